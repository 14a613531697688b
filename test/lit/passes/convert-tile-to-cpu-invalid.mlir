// RUN: tessera-opt %s --split-input-file --convert-tile-to-cpu --verify-diagnostics

func.func @print(%x: f32) {
  // expected-error @+1 {{'tile.print' op is not supported by the CPU backend yet}}
  tile.print "x = " %x : f32
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
