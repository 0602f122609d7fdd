"""What fuzzing the readers found (``scripts/fuzz_readers.py``), each kept as the smallest input that
showed it: every one ends in the project's own error naming the file, not in a library's exception."""

from __future__ import annotations

import json
import zlib

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dnagpt.data.fasta import open_fasta, read_fasta_records
from dnagpt.data.tables import read_table
from dnagpt.errors import ConfigError, DataError, DNAGPTError
from dnagpt.models.checkpoint import infer_config
from dnagpt.models.family import load_config

VCF_HEADER = (b"##fileformat=VCFv4.2\n##contig=<ID=chr1,length=300>\n"
              b"#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")  # fmt: skip


def test_damaged_gzip_fasta(tmp_path):
    """A gzip stream whose deflate data is damaged (zlib.error, not an OSError)."""
    path = tmp_path / "seqs.fa"
    path.write_bytes(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02?\x03\xb3K\x0c?\xbc")
    with pytest.raises(DataError, match=str(path)):
        read_fasta_records(path)


@pytest.mark.parametrize(
    "text, expected",
    [(b">chr1\n\xbd\xbc9\xf3\x9c\xbb\x9dj\n", "not text"),  # pysam decodes the bases as UTF-8
     (b">> \n\xc2\xb0\xc3\xa9\r\naN\r\n\r\n>x\r\nACGT\r\n", "record '>'")],  # lines htslib cannot index
)  # fmt: skip
def test_genome_read_through_its_index(tmp_path, text, expected):
    path = tmp_path / "genome.fa"
    path.write_bytes(text)
    with pytest.raises(DataError, match=expected) as caught, open_fasta(path, tmp_path / "cache") as genome:
        for record in genome.records:
            genome.fetch(record, 0, record.length)
    assert str(path) in str(caught.value)


def test_vcf_header_cyvcf2_cannot_parse(tmp_path):
    from dnagpt.vep.variants import open_vcf

    path = tmp_path / "calls.vcf"
    path.write_bytes(b"##fileformat=VCFv4")
    with pytest.raises(DataError, match=str(path)):
        open_vcf(path)


@pytest.mark.parametrize("region", [None, "chr1:1-100"])
def test_vcf_record_that_is_not_text(tmp_path, region):
    from dnagpt.vep.variants import Reference, read_variants

    genome = tmp_path / "genome.fa"
    genome.write_text(">chr1\n" + "ACGT" * 75 + "\n")
    path = tmp_path / "calls.vcf"
    path.write_bytes(VCF_HEADER + b"chr1\t10\t.\tC\tT\t.\t.\t.\nch\xf21\t60\trs1\tG\tC\t.\t.\t.\n")
    with open_fasta(genome, tmp_path / "cache") as fasta, pytest.raises(DataError) as caught:
        read_variants(path, Reference(fasta), region=region)
    assert f"{path}: line 5" in str(caught.value) and "not UTF-8" in str(caught.value)


def test_damaged_gzip_vcf(tmp_path):
    from dnagpt.vep.variants import vcf_layout

    path = tmp_path / "calls.vcf.gz"
    whole = zlib.compressobj(wbits=31)
    data = whole.compress(VCF_HEADER * 50) + whole.flush()
    path.write_bytes(data[: len(data) // 2])  # cut in the middle: EOFError inside gzip
    with pytest.raises(DataError, match=str(path)):
        vcf_layout(path)


def test_parquet_text_that_is_not_utf8(tmp_path):
    path = tmp_path / "rows.parquet"
    cells = pa.array([b"AC\xff"], type=pa.binary()).view(pa.string())  # written without being checked
    pq.write_table(pa.table({"sequence": cells, "label": pa.array([1])}), path)
    with pytest.raises(DataError, match="not UTF-8") as caught:
        read_table(path)
    assert str(path) in str(caught.value)


def test_checkpoint_with_a_weight_of_no_dimensions():
    import torch

    state = {"transformer.wte.weight": torch.zeros(4, 2), "transformer.wpe.weight": torch.tensor(0.0)}
    with pytest.raises(DNAGPTError, match=r"w\.safetensors"):
        infer_config(state, "w.safetensors")


@pytest.mark.parametrize("field", ["n_layer", "d_model", "context_length"])
def test_config_claiming_an_enormous_network(tmp_path, field):
    """A few bytes saying 2**40 layers would otherwise build a network for hours before any weight is read."""
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"model_type": "dnagpt", "family": "dnagpt", field: 2**40}))
    with pytest.raises(ConfigError, match=field):
        load_config(path)


def test_foreign_config_claiming_an_enormous_task_head(tmp_path):
    """A GPN directory whose config.json asks for a task head of 10**30 outputs (torch.empty overflowed)."""
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"model_type": "GPNRoFormer", "hidden_size": 32, "intermediate_size": 64,
                                "num_attention_heads": 2, "num_hidden_layers": 1, "vocab_size": 6,
                                "n_aux_features": 15, "task_outputs": 10**30}))  # fmt: skip
    with pytest.raises(ConfigError, match="task_outputs"):
        load_config(path)


def test_region_with_a_long_run_of_digits_is_refused_at_once():
    """A region whose digits run on past what can match made the old pattern backtrack for minutes."""
    from dnagpt.data.regions import parse_region

    region = "\tchr1:" + "9" * 100 + "-" + "9" * 5000 + "x"
    with pytest.raises(DataError, match="expected CHR:START-END"):
        parse_region(region)


def test_config_naming_a_tokenizer_file_longer_than_the_system_allows(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"model_type": "dnagpt", "family": "dnagpt", "tokenizer_file": "A" * 300}))
    with pytest.raises(ConfigError, match="no tokenizer file"):
        load_config(path)


def test_safetensors_with_a_shape_torch_cannot_hold(tmp_path):
    """A header claiming a dimension of 2**63 (over a tensor of no elements): torch's reshape overflowed."""
    from dnagpt.models.checkpoint import read_checkpoint

    header = b'{"__metadata__":{},"transformer.wte.weight":{"dtype":"F16","shape":[0,2,9223372036854775808],' \
             b'"data_offsets":[0,0]}}'  # fmt: skip
    path = tmp_path / "w.safetensors"
    path.write_bytes(len(header).to_bytes(8, "little") + header)
    with pytest.raises(DNAGPTError, match=r"w\.safetensors"):
        read_checkpoint(path)
