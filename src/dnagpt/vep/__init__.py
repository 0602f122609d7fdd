"""Zero-shot variant effect prediction: ``dnagpt vep``, VCF in, one score per variant out.

:mod:`.variants` reads and normalises variants and cuts their windows from the genome;
:mod:`.scoring` turns a pair of windows into scores with a model of any family;
:mod:`.run` scores a whole VCF in resumable chunks and writes parquet, TSV or VCF.
"""
