// RUN: tessera-opt %s --split-input-file --tgraph-lower-attention --verify-diagnostics

func.func @queries(%q: tensor<1x1x32x16xf16>, %i: tensor<1x1x1x1xi32>, %c: tensor<1x1x1xi32>, %qi: tensor<1x1x1x64xi32>) -> tensor<1x1x32x16xf16> {
  // expected-error @+1 {{query lists of 64 positions, but blocks of 32 queries}}
  %o = tgraph.attention %q, %q, %q kv(%i, %c) queries(%qi, %c) {block_m = 32, block_n = 32}
      : (tensor<1x1x32x16xf16>, tensor<1x1x32x16xf16>, tensor<1x1x32x16xf16>, tensor<1x1x1x1xi32>,
        tensor<1x1x1xi32>, tensor<1x1x1x64xi32>, tensor<1x1x1xi32>) -> tensor<1x1x32x16xf16>
  return %o : tensor<1x1x32x16xf16>
}

// -----

func.func @dynamic(%q: tensor<1x1x?x16xf16>) -> tensor<1x1x?x16xf16> {
  // expected-error @+1 {{needs static shapes to be lowered}}
  %o = tgraph.attention %q, %q, %q {block_m = 32, block_n = 32}
      : (tensor<1x1x?x16xf16>, tensor<1x1x?x16xf16>, tensor<1x1x?x16xf16>) -> tensor<1x1x?x16xf16>
  return %o : tensor<1x1x?x16xf16>
}

// -----

func.func @f64(%q: tensor<1x1x32x16xf64>) -> tensor<1x1x32x16xf64> {
  // expected-error @+1 {{is lowered for f16, bf16 and f32 tensors, got 'f64'}}
  %o = tgraph.attention %q, %q, %q {block_m = 32, block_n = 32}
      : (tensor<1x1x32x16xf64>, tensor<1x1x32x16xf64>, tensor<1x1x32x16xf64>) -> tensor<1x1x32x16xf64>
  return %o : tensor<1x1x32x16xf64>
}
