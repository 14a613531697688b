// Accumulator layouts belong to one vendor's instructions: the NVIDIA
// lowering refuses #tilegpu.mma<mfma>, the AMD one mma.sync/wgmma layouts,
// and MFMA layouts need 64-lane wavefronts.
// RUN: tessera-opt --convert-tilegpu-to-nvvm --split-input-file --verify-diagnostics %s
// RUN: not tessera-opt --convert-tile-to-tilegpu="mfma=1" %s 2>&1 | FileCheck %s --check-prefix=LANES

// LANES: error: MFMA layouts need 64 threads per warp (threads-per-warp=64), got 32

module attributes {tilegpu.num_warps = 1 : i32} {
  func.func @mfma_on_nvidia(%p: !tile.ptr<f32>) {
    // expected-error @+1 {{has an AMD MFMA layout; the NVIDIA lowering takes #tilegpu.mma versions 2 and 3}}
    %c = arith.constant dense<0.0> : tensor<16x16xf32, #tilegpu.mma<mfma, warpsPerCTA = [1, 1]>>
    return
  }
}
