// RUN: tessera-opt %s --lower-tile-cpu-atomics --verify-diagnostics

func.func @not_lowered_yet(%p: !tile.ptr<f32>, %v: f32) -> f32 {
  // expected-error @+1 {{must be a scalar atomic on a cast address here (run convert-tile-to-cpu first)}}
  %0 = tile.atomic_rmw fadd, acq_rel, gpu, %p, %v : !tile.ptr<f32>
  return %0 : f32
}
