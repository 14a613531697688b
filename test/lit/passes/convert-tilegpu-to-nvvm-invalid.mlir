// RUN: tessera-opt %s --split-input-file --convert-tile-to-tilegpu="num-warps=1" --convert-tilegpu-to-nvvm --verify-diagnostics

func.func @print(%x: f32) {
  // expected-error @+1 {{'tile.print' op is not supported by the NVIDIA backend yet}}
  tile.print "x" %x : f32
  return
}

// -----

// erf is libdevice's (test/lit/nvidia/libdevice.mlir); tanh is neither an
// instruction nor a function the lowering takes from libdevice.
func.func @tanh(%p: !tile.ptr<f32>) {
  %r = tile.make_range 0 to 32 : tensor<32xi32>
  %ps = tile.splat %p : !tile.ptr<f32> -> tensor<32x!tile.ptr<f32>>
  %q = tile.addptr %ps, %r : tensor<32x!tile.ptr<f32>>, tensor<32xi32>
  %x = tile.load %q : tensor<32x!tile.ptr<f32>>
  // expected-error @+1 {{'math.tanh' op on 'f32' is not supported by the NVIDIA backend yet}}
  %0 = math.tanh %x : tensor<32xf32>
  tile.store %q, %0 : tensor<32x!tile.ptr<f32>>
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
