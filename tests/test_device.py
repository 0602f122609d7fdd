"""The machine floor: what dnagpt.device changes in the process."""

import platform
import subprocess
import sys
import textwrap

import pytest

PROGRAM = textwrap.dedent("""
    import ctypes, resource
    from dnagpt.device import keep_freed_memory

    libc = ctypes.CDLL("libc.so.6")
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    SIZE = 19 << 20

    def faults():  # page faults of five batches of buffers made, filled and freed, as scoring does
        start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(5):
            buffers = [libc.malloc(SIZE) for _ in range(3)]
            for buffer in buffers:
                ctypes.memset(buffer, 1, SIZE)
            for buffer in buffers:
                libc.free(buffer)
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start

    libc.free(libc.malloc(SIZE + (1 << 20)))  # malloc's own threshold, raised as a larger block is freed
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
    assert before > 5 * 3 * (19 << 20) // 4096 * 0.9  # handed back after each batch: every page faulted again
    assert after < before / 20


def test_peak_memory_is_this_process_not_its_parent():
    """A small child of a process holding 600 MiB reports its own peak, not the parent's."""
    program = "from dnagpt.device import peak_memory_mib; print(peak_memory_mib())"
    held = bytearray(600 << 20)
    held[::4096] = b"x" * len(held[::4096])  # touched: resident
    child = float(subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True).stdout)
    from dnagpt.device import peak_memory_mib

    assert 20 < child < 500 < peak_memory_mib()
