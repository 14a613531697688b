// RUN: tessera-opt %s --convert-tilegpu-to-nvvm --verify-diagnostics

// A layout over the first warpgroup only (#mma<3, [4, 1]> on 8 warps)
// runs its ops on warps 0-3 (the others hold poison): an op that cannot
// run there (a reduction across those warps needs a barrier of all the
// warps) and reads such a tile is refused, not lowered into a race. The
// layout pass gives this layout only to tiles whose uses all can
// (ConvertTileToTileGPU's feedsDotA), so this is an internal check.
#mma = #tilegpu.mma<version = 3, warpsPerCTA = [4, 1]>
#slice = #tilegpu.slice<dim = 0, parent = #mma>
module attributes {tilegpu.compute_capability = 90 : i32, tilegpu.num_warps = 8 : i32, tilegpu.threads_per_warp = 32 : i32} {
  func.func @column_sums(%x: f32) {
    %s = tile.splat %x : f32 -> tensor<64x64xf32, #mma>
    // expected-error @+1 {{reads a tile held by the first warps only}}
    %c = tile.reduce(%s) axis = 0 : (tensor<64x64xf32, #mma>) -> tensor<64xf32, #slice> {
    ^bb0(%a: f32, %b: f32):
      %sum = arith.addf %a, %b : f32
      tile.reduce.return %sum : f32
    }
    return
  }
}
