// RUN: tessera-opt %s --split-input-file --convert-tile-to-tilegpu="num-warps=1" --convert-tilegpu-to-nvvm --verify-diagnostics

// erf and tanh are libdevice's (test/lit/nvidia/libdevice.mlir) on f32
// and f64; on f16 neither an instruction nor libdevice has them.
func.func @erf_f16(%p: !tile.ptr<f16>) {
  %r = tile.make_range 0 to 32 : tensor<32xi32>
  %ps = tile.splat %p : !tile.ptr<f16> -> tensor<32x!tile.ptr<f16>>
  %q = tile.addptr %ps, %r : tensor<32x!tile.ptr<f16>>, tensor<32xi32>
  %x = tile.load %q : tensor<32x!tile.ptr<f16>>
  // expected-error @+1 {{'math.erf' op on 'f16' is not supported by the NVIDIA backend yet}}
  %0 = math.erf %x : tensor<32xf16>
  tile.store %q, %0 : tensor<32x!tile.ptr<f16>>
  return
}

// -----

// expected-error @+1 {{is a kernel, so its arguments must be scalars or pointers}}
func.func @tensor_arg(%x: tensor<32xf32>) {
  return
}

// -----

func.func private @helper() {
  return
}
// expected-error @-3 {{calls must be inlined before the GPU lowering}}
