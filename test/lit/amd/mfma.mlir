// tile.dot on AMD's matrix cores. convert-tile-to-tilegpu{mfma} gives the
// dot's accumulator the #tilegpu.mma<mfma> layout (16 x 16 tiles, warps
// as 2 x 2 for a 32 x 32 result on 4 wavefronts); the ROCDL lowering puts
// the operands in LDS and runs one MFMA per 16 x 16 tile and K step:
// 16x16x16 for fp16 and bf16 (K = 32: two steps), 16x16x4 for fp32
// (K = 8: two steps). The row sum after the dot reduces in the MFMA layout
// (lanes l ^ 1, 2, 4, 8 hold a row's columns).
// RUN: tessera-opt --convert-tile-to-tilegpu="threads-per-warp=64 mfma=1" %s | FileCheck %s --check-prefix=LAYOUT
// RUN: tessera-opt --convert-tile-to-tilegpu="threads-per-warp=64 mfma=1" --convert-tilegpu-to-rocdl %s | FileCheck %s --check-prefix=ROCDL
// RUN: tessera-translate --arch=gfx942 --num-warps=4 %s | FileCheck %s --check-prefix=GFX942
// RUN: tessera-translate --arch=gfx90a --num-warps=4 %s | FileCheck %s --check-prefix=GFX90A

// LAYOUT: #mma = #tilegpu.mma<mfma, warpsPerCTA = [2, 2]>
// LAYOUT: #slice = #tilegpu.slice<dim = 1, parent = #mma>
// LAYOUT-LABEL: func.func @dot_f16
// LAYOUT: tile.dot {{.*}} -> tensor<32x32xf32, #mma>
// LAYOUT: tile.reduce({{.*}}) axis = 1 : (tensor<32x32xf32, #mma>) -> tensor<32xf32, #slice>

// ROCDL-LABEL: llvm.func @dot_f16
// ROCDL-COUNT-2: rocdl.mfma.f32.16x16x16f16 {{.*}} : (vector<4xf16>, vector<4xf16>, vector<4xf32>, i32, i32, i32) -> vector<4xf32>
// ROCDL-NOT: rocdl.mfma
// ROCDL: rocdl.ds_bpermute
// ROCDL-LABEL: llvm.func @dot_bf16
// ROCDL-COUNT-2: rocdl.mfma.f32.16x16x16bf16.1k {{.*}} : (vector<4xi16>, vector<4xi16>, vector<4xf32>, i32, i32, i32) -> vector<4xf32>
// ROCDL-LABEL: llvm.func @dot_f32
// ROCDL-COUNT-2: rocdl.mfma.f32.16x16x4f32 {{.*}} : (f32, f32, vector<4xf32>, i32, i32, i32) -> vector<4xf32>

// GFX942-LABEL: dot_f16:
// GFX942-COUNT-2: v_mfma_f32_16x16x16_f16
// GFX942-LABEL: dot_bf16:
// GFX942-COUNT-2: v_mfma_f32_16x16x16_bf16
// GFX942-LABEL: dot_f32:
// GFX942-COUNT-2: v_mfma_f32_16x16x4_f32
// GFX90A-LABEL: dot_f16:
// GFX90A-COUNT-2: v_mfma_f32_16x16x16f16
// GFX90A-LABEL: dot_bf16:
// GFX90A-COUNT-2: v_mfma_f32_16x16x16bf16_1k
// GFX90A-LABEL: dot_f32:
// GFX90A-COUNT-2: v_mfma_f32_16x16x4f32

func.func @dot_f16(%a: !tile.ptr<f16>, %b: !tile.ptr<f16>, %out: !tile.ptr<f32>) {
  %r32 = tile.make_range 0 to 32 : tensor<32xi32>
  %rows = tile.expand_dims %r32, axis = 1 : tensor<32xi32> -> tensor<32x1xi32>
  %cols = tile.expand_dims %r32, axis = 0 : tensor<32xi32> -> tensor<1x32xi32>
  %c32 = arith.constant dense<32> : tensor<32x1xi32>
  %ro = arith.muli %rows, %c32 : tensor<32x1xi32>
  %rb = tile.broadcast %ro : tensor<32x1xi32> -> tensor<32x32xi32>
  %cb = tile.broadcast %cols : tensor<1x32xi32> -> tensor<32x32xi32>
  %offs = arith.addi %rb, %cb : tensor<32x32xi32>
  %as = tile.splat %a : !tile.ptr<f16> -> tensor<32x32x!tile.ptr<f16>>
  %ap = tile.addptr %as, %offs : tensor<32x32x!tile.ptr<f16>>, tensor<32x32xi32>
  %bs = tile.splat %b : !tile.ptr<f16> -> tensor<32x32x!tile.ptr<f16>>
  %bp = tile.addptr %bs, %offs : tensor<32x32x!tile.ptr<f16>>, tensor<32x32xi32>
  %at = tile.load %ap : tensor<32x32x!tile.ptr<f16>>
  %bt = tile.load %bp : tensor<32x32x!tile.ptr<f16>>
  %z = arith.constant dense<0.0> : tensor<32x32xf32>
  %d = tile.dot %at, %bt, %z : tensor<32x32xf16> * tensor<32x32xf16> -> tensor<32x32xf32>
  %sum = tile.reduce(%d) axis = 1 : (tensor<32x32xf32>) -> (tensor<32xf32>) {
  ^bb0(%x0: f32, %x1: f32):
    %s = arith.addf %x0, %x1 : f32
    tile.reduce.return %s : f32
  }
  %os = tile.splat %out : !tile.ptr<f32> -> tensor<32x!tile.ptr<f32>>
  %op = tile.addptr %os, %r32 : tensor<32x!tile.ptr<f32>>, tensor<32xi32>
  tile.store %op, %sum : tensor<32x!tile.ptr<f32>>
  return
}

func.func @dot_bf16(%a: !tile.ptr<bf16>, %b: !tile.ptr<bf16>, %out: !tile.ptr<f32>) {
  %r32 = tile.make_range 0 to 32 : tensor<32xi32>
  %rows = tile.expand_dims %r32, axis = 1 : tensor<32xi32> -> tensor<32x1xi32>
  %cols = tile.expand_dims %r32, axis = 0 : tensor<32xi32> -> tensor<1x32xi32>
  %c32 = arith.constant dense<32> : tensor<32x1xi32>
  %ro = arith.muli %rows, %c32 : tensor<32x1xi32>
  %rb = tile.broadcast %ro : tensor<32x1xi32> -> tensor<32x32xi32>
  %cb = tile.broadcast %cols : tensor<1x32xi32> -> tensor<32x32xi32>
  %offs = arith.addi %rb, %cb : tensor<32x32xi32>
  %as = tile.splat %a : !tile.ptr<bf16> -> tensor<32x32x!tile.ptr<bf16>>
  %ap = tile.addptr %as, %offs : tensor<32x32x!tile.ptr<bf16>>, tensor<32x32xi32>
  %bs = tile.splat %b : !tile.ptr<bf16> -> tensor<32x32x!tile.ptr<bf16>>
  %bp = tile.addptr %bs, %offs : tensor<32x32x!tile.ptr<bf16>>, tensor<32x32xi32>
  %at = tile.load %ap : tensor<32x32x!tile.ptr<bf16>>
  %bt = tile.load %bp : tensor<32x32x!tile.ptr<bf16>>
  %z = arith.constant dense<0.0> : tensor<32x32xf32>
  %d = tile.dot %at, %bt, %z : tensor<32x32xbf16> * tensor<32x32xbf16> -> tensor<32x32xf32>
  %os = tile.splat %out : !tile.ptr<f32> -> tensor<32x32x!tile.ptr<f32>>
  %op = tile.addptr %os, %offs : tensor<32x32x!tile.ptr<f32>>, tensor<32x32xi32>
  tile.store %op, %d : tensor<32x32x!tile.ptr<f32>>
  return
}

func.func @dot_f32(%a: !tile.ptr<f32>, %b: !tile.ptr<f32>, %out: !tile.ptr<f32>) {
  %r32 = tile.make_range 0 to 32 : tensor<32xi32>
  %r8 = tile.make_range 0 to 8 : tensor<8xi32>
  %rows = tile.expand_dims %r32, axis = 1 : tensor<32xi32> -> tensor<32x1xi32>
  %c8 = arith.constant dense<8> : tensor<32x1xi32>
  %ro = arith.muli %rows, %c8 : tensor<32x1xi32>
  %rb = tile.broadcast %ro : tensor<32x1xi32> -> tensor<32x8xi32>
  %k1 = tile.expand_dims %r8, axis = 0 : tensor<8xi32> -> tensor<1x8xi32>
  %kb = tile.broadcast %k1 : tensor<1x8xi32> -> tensor<32x8xi32>
  %aoffs = arith.addi %rb, %kb : tensor<32x8xi32>
  %as = tile.splat %a : !tile.ptr<f32> -> tensor<32x8x!tile.ptr<f32>>
  %ap = tile.addptr %as, %aoffs : tensor<32x8x!tile.ptr<f32>>, tensor<32x8xi32>
  %at = tile.load %ap : tensor<32x8x!tile.ptr<f32>>
  %k0 = tile.expand_dims %r8, axis = 1 : tensor<8xi32> -> tensor<8x1xi32>
  %c32k = arith.constant dense<32> : tensor<8x1xi32>
  %bro = arith.muli %k0, %c32k : tensor<8x1xi32>
  %brb = tile.broadcast %bro : tensor<8x1xi32> -> tensor<8x32xi32>
  %cols = tile.expand_dims %r32, axis = 0 : tensor<32xi32> -> tensor<1x32xi32>
  %bcb = tile.broadcast %cols : tensor<1x32xi32> -> tensor<8x32xi32>
  %boffs = arith.addi %brb, %bcb : tensor<8x32xi32>
  %bs = tile.splat %b : !tile.ptr<f32> -> tensor<8x32x!tile.ptr<f32>>
  %bp = tile.addptr %bs, %boffs : tensor<8x32x!tile.ptr<f32>>, tensor<8x32xi32>
  %bt = tile.load %bp : tensor<8x32x!tile.ptr<f32>>
  %z = arith.constant dense<0.0> : tensor<32x32xf32>
  %d = tile.dot %at, %bt, %z : tensor<32x8xf32> * tensor<8x32xf32> -> tensor<32x32xf32>
  %c32 = arith.constant dense<32> : tensor<32x1xi32>
  %oro = arith.muli %rows, %c32 : tensor<32x1xi32>
  %orb = tile.broadcast %oro : tensor<32x1xi32> -> tensor<32x32xi32>
  %ocb = tile.broadcast %cols : tensor<1x32xi32> -> tensor<32x32xi32>
  %ooffs = arith.addi %orb, %ocb : tensor<32x32xi32>
  %os = tile.splat %out : !tile.ptr<f32> -> tensor<32x32x!tile.ptr<f32>>
  %op = tile.addptr %os, %ooffs : tensor<32x32x!tile.ptr<f32>>, tensor<32x32xi32>
  tile.store %op, %d : tensor<32x32x!tile.ptr<f32>>
  return
}
