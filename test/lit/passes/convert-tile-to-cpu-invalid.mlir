// RUN: tessera-opt %s --split-input-file --convert-tile-to-cpu --verify-diagnostics

func.func @assert(%c: i1) {
  // expected-error @+1 {{'tile.assert' op is not supported by the CPU backend yet}}
  tile.assert %c, "c must hold" : i1
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
