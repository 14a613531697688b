// RUN: tessera-opt %s --split-input-file --verify-diagnostics

// expected-error @+1 {{threadsPerWarp must cover the 32 lanes of a warp, covers 16}}
func.func @lanes(%x: tensor<16xf32, #tilegpu.blocked<sizePerThread = [1], threadsPerWarp = [16], warpsPerCTA = [1], order = [0]>>) { return }

// -----

// expected-error @+1 {{sizePerThread, threadsPerWarp, warpsPerCTA and order must have one entry per dimension}}
func.func @ranks(%x: tensor<16xf32, #tilegpu.blocked<sizePerThread = [1, 1], threadsPerWarp = [32], warpsPerCTA = [1], order = [0]>>) { return }

// -----

// expected-error @+1 {{order must be a permutation of the dimensions}}
func.func @order(%x: tensor<4x8xf32, #tilegpu.blocked<sizePerThread = [1, 1], threadsPerWarp = [4, 8], warpsPerCTA = [1, 1], order = [1, 1]>>) { return }

// -----

// expected-error @+1 {{layout sizes must be positive}}
func.func @zero(%x: tensor<16xf32, #tilegpu.blocked<sizePerThread = [0], threadsPerWarp = [32], warpsPerCTA = [1], order = [0]>>) { return }

// -----

// expected-error @+2 {{expected integer value}}
// expected-error @+1 {{failed to parse TileGPU_BlockedEncoding parameter 'sizePerThread'}}
func.func @empty(%x: tensor<f32, #tilegpu.blocked<sizePerThread = [], threadsPerWarp = [], warpsPerCTA = [], order = []>>) { return }

// -----

#l = #tilegpu.blocked<sizePerThread = [1], threadsPerWarp = [32], warpsPerCTA = [1], order = [0]>
func.func @convert_shape(%x: tensor<32xf32, #l>) {
  // expected-error @+1 {{must keep the shape and element type}}
  %0 = tilegpu.convert_layout %x : tensor<32xf32, #l> -> tensor<64xf32, #l>
  return
}

// -----

// expected-error @+1 {{only mma version 2 (mma.sync, sm_80+) is supported, got 3}}
func.func @mma_version(%x: tensor<16x8xf32, #tilegpu.mma<version = 3, warpsPerCTA = [1, 1]>>) { return }

// -----

// expected-error @+1 {{an mma layout is rank 2: warpsPerCTA needs 2 entries, got 1}}
func.func @mma_rank(%x: tensor<16x8xf32, #tilegpu.mma<version = 2, warpsPerCTA = [4]>>) { return }

// -----

// expected-error @+1 {{layout sizes must be positive}}
func.func @mma_zero(%x: tensor<16x8xf32, #tilegpu.mma<version = 2, warpsPerCTA = [0, 4]>>) { return }
