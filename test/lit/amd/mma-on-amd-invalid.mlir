// RUN: tessera-opt --convert-tilegpu-to-rocdl --verify-diagnostics %s

module attributes {tilegpu.num_warps = 1 : i32, tilegpu.threads_per_warp = 64 : i32} {
  func.func @mma_on_amd(%p: !tile.ptr<f32>) {
    // expected-error @+1 {{has an NVIDIA tensor-core layout (mma.sync or wgmma); the AMD lowering takes #tilegpu.mma<mfma>}}
    %c = arith.constant dense<0.0> : tensor<16x8xf32, #tilegpu.mma<version = 2, warpsPerCTA = [1, 1]>>
    return
  }
}
