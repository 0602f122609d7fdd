"""The machine floor: what dnagpt.device changes in the process."""

import platform
import subprocess
import sys
import textwrap

import pytest

PROGRAM = textwrap.dedent("""
    import resource, sys, torch
    from dnagpt.device import keep_freed_memory

    def faults():  # page faults of batches of buffers made and freed, as scoring makes them
        start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(10):
            buffers = [torch.ones(k << 18) for k in range(1, 9)]
            del buffers
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start

    faults()
    before = faults()
    took = keep_freed_memory()
    faults()
    print(took, before, faults())
""")


@pytest.mark.skipif(platform.system() != "Linux", reason="glibc's malloc")
def test_freed_memory_is_reused_instead_of_faulted_in_again():
    out = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True, check=True).stdout.split()
    took, before, after = out[0], int(out[1]), int(out[2])
    assert took == "True"
    assert before > 10_000  # handed back after each batch: every page faulted in again
    assert after < before / 20
