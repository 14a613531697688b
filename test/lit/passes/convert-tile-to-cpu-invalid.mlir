// RUN: tessera-opt %s --split-input-file --convert-tile-to-cpu --verify-diagnostics

func.func @fp8(%p: !tile.ptr<f8E4M3FN>) {
  // expected-error @+1 {{'tile.load' op on fp8 values needs the NVIDIA backend (sm_89 or newer)}}
  %x = tile.load %p : !tile.ptr<f8E4M3FN>
  return
}

// -----

func.func private @helper() -> i32 {
  // expected-error @+1 {{must be inside a kernel (a public function); calls of other functions are inlined first}}
  %0 = tile.program_id x : i32
  return %0 : i32
}

// -----

// expected-error @+1 {{'func.func' op is a kernel, so its arguments must be scalars or pointers, got 'tensor<16xf32>'}}
func.func @tensor_argument(%x: tensor<16xf32>) {
  return
}
