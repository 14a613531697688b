// RUN: tessera-opt %s --split-input-file --verify-diagnostics

// expected-error @+1 {{threadsPerWarp must cover the 32 lanes of a warp (or the 64 of an AMD wavefront), covers 16}}
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

// expected-error @+1 {{mma versions are 2 (mma.sync, sm_80+), 3 (wgmma, sm_90a) and mfma (AMD CDNA), got 4}}
func.func @mma_version(%x: tensor<16x8xf32, #tilegpu.mma<version = 4, warpsPerCTA = [1, 1]>>) { return }

// -----

// expected-error @+1 {{a version 3 (wgmma) layout has whole warpgroups along M: warpsPerCTA must be [4k, n], got [2, 4]}}
func.func @wgmma_warps(%x: tensor<128x64xf32, #tilegpu.mma<version = 3, warpsPerCTA = [2, 4]>>) { return }

// -----

// expected-error @+1 {{swizzle must be 0, 32, 64 or 128 bytes, got 96}}
func.func @shared_swizzle(%x: tensor<64x64xf16, #tilegpu.shared<swizzle = 96>>) { return }

// -----

// expected-error @+1 {{an mma layout is rank 2: warpsPerCTA needs 2 entries, got 1}}
func.func @mma_rank(%x: tensor<16x8xf32, #tilegpu.mma<version = 2, warpsPerCTA = [4]>>) { return }

// -----

// expected-error @+1 {{layout sizes must be positive}}
func.func @mma_zero(%x: tensor<16x8xf32, #tilegpu.mma<version = 2, warpsPerCTA = [0, 4]>>) { return }

// -----

#b = #tilegpu.blocked<sizePerThread = [1, 1], threadsPerWarp = [4, 8], warpsPerCTA = [1, 1], order = [1, 0]>
func.func @async_not_shared(%p: tensor<4x8x!tile.ptr<f16>, #b>, %s: i32) {
  // expected-error @+1 {{result must have the #tilegpu.shared encoding}}
  %t = tilegpu.async_load %p[%s] {buffer = 0 : i32, slots = 2 : i32} : tensor<4x8x!tile.ptr<f16>, #b> -> tensor<4x8xf16, #b>
  return
}

// -----

#b = #tilegpu.blocked<sizePerThread = [1, 1], threadsPerWarp = [4, 8], warpsPerCTA = [1, 1], order = [1, 0]>
func.func @async_type(%p: tensor<4x8x!tile.ptr<f16>, #b>, %s: i32) {
  // expected-error @+1 {{must have the shape of}}
  %t = tilegpu.async_load %p[%s] {buffer = 0 : i32, slots = 2 : i32} : tensor<4x8x!tile.ptr<f16>, #b> -> tensor<4x8xf32, #tilegpu.shared>
  return
}

// -----

#b = #tilegpu.blocked<sizePerThread = [1, 1], threadsPerWarp = [4, 8], warpsPerCTA = [1, 1], order = [1, 0]>
func.func @async_slots(%p: tensor<4x8x!tile.ptr<f16>, #b>, %s: i32) {
  // expected-error @+1 {{slots must be >= 1, got 0}}
  %t = tilegpu.async_load %p[%s] {buffer = 0 : i32, slots = 0 : i32} : tensor<4x8x!tile.ptr<f16>, #b> -> tensor<4x8xf16, #tilegpu.shared>
  return
}

// -----

func.func @async_wait() {
  // expected-error @+1 {{pending must be >= 0, got -1}}
  tilegpu.async_wait {pending = -1 : i32}
  return
}

// -----

// expected-error @+1 {{only swizzled shared tiles have transposed views}}
func.func @shared_transposed_unswizzled(%x: tensor<64x64xf16, #tilegpu.shared<swizzle = 0, transposed>>) { return }

// -----

// expected-error @+1 {{a slice of an mma layout drops dimension 0 or 1, got 2}}
func.func @slice_dim(%x: tensor<64xf32, #tilegpu.slice<dim = 2, parent = #tilegpu.mma<version = 3, warpsPerCTA = [4, 1]>>>) { return }

// -----

// expected-error @+1 {{a slice of an mma layout holds rank-1 tensors, got rank 2}}
func.func @slice_rank(%x: tensor<64x1xf32, #tilegpu.slice<dim = 1, parent = #tilegpu.mma<version = 3, warpsPerCTA = [4, 1]>>>) { return }

// -----

func.func @slot_barriers_one_slot() {
  // expected-error @+1 {{slots must be >= 2, got 1}}
  tilegpu.slot_barriers_init {slots = 1 : i32}
  return
}

// -----

func.func @slot_view_unswizzled(%s: i32) {
  // expected-error @+1 {{result must be a swizzled #tilegpu.shared tile, got 'tensor<64x64xf16, #tilegpu.shared>'}}
  %t = tilegpu.slot_view %s {buffer = 0 : i32, slots = 2 : i32} : tensor<64x64xf16, #tilegpu.shared<swizzle = 0>>
  return
}

// -----

func.func @slot_view_rows(%s: i32) {
  // expected-error @+1 {{rows of 32 bytes are not whole 128-byte swizzle blocks}}
  %t = tilegpu.slot_view %s {buffer = 0 : i32, slots = 2 : i32} : tensor<64x16xf16, #tilegpu.shared<swizzle = 128>>
  return
}

// -----

func.func @slot_view_slots(%s: i32) {
  // expected-error @+1 {{needs slots >= 1 and buffer >= 0}}
  %t = tilegpu.slot_view %s {buffer = 0 : i32, slots = 0 : i32} : tensor<64x64xf16, #tilegpu.shared<swizzle = 128>>
  return
}

// -----

func.func @slot_view_pointers(%s: i32) {
  // expected-error @+1 {{copies integers or floats, got '!tile.ptr<f16>'}}
  %t = tilegpu.slot_view %s {buffer = 0 : i32, slots = 2 : i32} : tensor<64x64x!tile.ptr<f16>, #tilegpu.shared<swizzle = 128>>
  return
}

// -----

func.func @producer_not_in_entry(%c: i1) {
  scf.if %c {
    // expected-error @+1 {{must be in a kernel's entry block}}
    tilegpu.producer {
    }
  }
  return
}

// -----

func.func @producer_after_tiles(%p: !tile.ptr<f32>) {
  %r = tile.make_range 0 to 64 : tensor<64xi32>
  // expected-error @+1 {{must come before every op on tiles (the extra warp would run them), but follows tile.make_range}}
  tilegpu.producer {
  }
  return
}

// -----

func.func @two_producers() {
  tilegpu.producer {
  }
  // expected-error @+1 {{is the kernel's second producer region; a kernel has at most one}}
  tilegpu.producer {
  }
  return
}

// -----

func.func @producer_tiles(%p: !tile.ptr<f32>) {
  tilegpu.producer {
    // expected-error @+1 {{cannot be in a producer region, which holds scalar work and tilegpu.tma_load only}}
    %r = tile.make_range 0 to 64 : tensor<64xi32>
  }
  return
}

// -----

func.func @producer_reads_copy(%k: !tile.ptr<f16>, %rows: i32, %stride: i64, %s: i32, %t: i1) {
  %c0 = arith.constant 0 : i32
  %c1 = arith.constant 1 : i64
  %d = arith.constant 64 : i32
  tilegpu.producer {
    // expected-error @+1 {{in a producer region fills a slot for other warps; its tile may not be read there}}
    %x = tilegpu.tma_load %k[%c0, %c0] shape [%rows, %d] strides [%stride, %c1] slot %s, %t {buffer = 0 : i32, slots = 2 : i32} : !tile.ptr<f16> -> tensor<64x64xf16, #tilegpu.shared<swizzle = 128>>
    %y = tilegpu.convert_layout %x : tensor<64x64xf16, #tilegpu.shared<swizzle = 128>> -> tensor<64x64xf16, #tilegpu.shared<swizzle = 128>>
  }
  return
}
