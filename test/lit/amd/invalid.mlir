// What the AMD lowering refuses, with the reason.
// RUN: not tessera-opt --convert-tile-to-tilegpu="threads-per-warp=48" %s 2>&1 | FileCheck %s --check-prefix=LANES
// RUN: not tessera-opt --convert-tile-to-tilegpu="threads-per-warp=64 compute-capability=90" %s 2>&1 | FileCheck %s --check-prefix=MMA
// RUN: not tessera-opt --convert-tile-to-tilegpu --convert-tilegpu-to-rocdl %s 2>&1 | FileCheck %s --check-prefix=WAVE32
// RUN: not tessera-opt --convert-tile-to-tilegpu="threads-per-warp=64" --convert-tilegpu-to-nvvm %s 2>&1 | FileCheck %s --check-prefix=WAVE64
// RUN: not tessera-translate --arch=gfx1100 %s 2>&1 | FileCheck %s --check-prefix=ARCH

// LANES: error: threads-per-warp must be 32 or 64, got 48
// MMA: error: tensor-core layouts (compute-capability 90) need 32 threads per warp
// WAVE32: error: the AMD lowering targets wave64 (CDNA: gfx90a, gfx942); the layouts were made for 32 threads a warp
// WAVE64: error: NVIDIA warps have 32 threads; the layouts were made for 64
// ARCH: error: the AMD backend compiles for gfx90a (MI200) and gfx942 (MI300), not 'gfx1100'
func.func @k(%x: !tile.ptr<f32>) {
  %r = tile.make_range 0 to 256 : tensor<256xi32>
  %xs = tile.splat %x : !tile.ptr<f32> -> tensor<256x!tile.ptr<f32>>
  %p = tile.addptr %xs, %r : tensor<256x!tile.ptr<f32>>, tensor<256xi32>
  %v = tile.load %p : tensor<256x!tile.ptr<f32>>
  tile.store %p, %v : tensor<256x!tile.ptr<f32>>
  return
}
