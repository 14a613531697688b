"""Prints the sm_90a PTX of an MLA decode kernel for FileCheck, after a
"// shared bytes N" line (at most 227 KB): the lit tests of nvidia/ compile
mla_decode_split and mla_decode_split_t this way."""

from tessera.backends.nvidia import NVIDIABackend
from tessera.compiler import ASTSource


def print_ptx(f, consts, num_warps):
    sig = {n: "i32" for n in f.arg_names if n not in consts}
    sig.update({"Q": "*bf16:16", "KV": "*bf16:16", "BLOCK_TABLE": "*i32:16",
                "SEQLENS": "*i32:16", "O_PART": "*fp32:16", "LSE_PART": "*fp32:16",
                "sm_scale": "fp32"})
    for n in ("stride_qb", "stride_qh", "stride_kvp", "stride_kvt", "stride_btb"):
        sig[n] = "i32:16"
    binary = NVIDIABackend(arch="sm_90a").compile(ASTSource(f, sig, consts).make_ir(),
                                                  f.__name__, False,
                                                  {"num_warps": num_warps, "num_stages": 2})
    header, _, ptx = binary.partition(b"\n")
    shared = int(header.split(b":")[2])
    assert shared <= 232448, header
    print(f"// shared bytes {shared}")
    print(ptx.decode())
