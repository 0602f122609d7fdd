"""Metrics and reports for trained models."""
