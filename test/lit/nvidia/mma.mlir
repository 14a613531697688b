// tl.dot of fp16 / bf16 tiles into fp32 runs on tensor cores: mma.sync
// m16n8k16 (row.col), fragments read from padded shared memory.
// RUN: tessera-translate --arch=sm_80 %s | FileCheck %s
// RUN: tessera-translate --arch=sm_90a --dump %s | FileCheck %s --check-prefix=NVVM
// RUN: tessera-opt %s --convert-tile-to-tilegpu="num-warps=4" --convert-tilegpu-to-nvvm | FileCheck %s --check-prefix=SIMT

// CHECK-LABEL: .visible .entry gemm_f16(
// 32 x 32 with 2 x 2 warps: 1 x 2 tiles per warp, times 2 k steps.
// CHECK-COUNT-4: mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32
// CHECK-NOT: mma.sync
// CHECK-LABEL: .visible .entry gemm_bf16(
// CHECK: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
// fp32 dots with tf32 precision (Triton's default for fp32): m16n8k8, one per 8 of k.
// CHECK-LABEL: .visible .entry gemm_tf32(
// CHECK-COUNT-2: mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32
// CHECK-NOT: mma.sync
// tf32x3: big and small tf32 halves, three products per step.
// CHECK-LABEL: .visible .entry gemm_tf32x3(
// CHECK: cvt.rna.tf32.f32
// CHECK-COUNT-6: mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32
// CHECK-NOT: mma.sync
// int8 -> int32: m16n8k32 (K = 16 is not enough: the FMA path).
// CHECK-LABEL: .visible .entry gemm_i8(
// CHECK-NOT: mma.sync
// CHECK-LABEL: .visible .entry gemm_i8_k32(
// CHECK-COUNT-2: mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32
// CHECK-NOT: mma.sync
// NVVM: nvvm.mma.sync A[{{.*}}] B[{{.*}}] C[{{.*}}] {layoutA = #nvvm.mma_layout<row>, layoutB = #nvvm.mma_layout<col>, shape = #nvvm.shape<m = 16, n = 8, k = 16>} : (vector<2xf16>, vector<2xf16>, f32)
// Without a compute capability (the generic path) the dot is an FMA loop.
// SIMT-NOT: nvvm.mma.sync
// SIMT: llvm.func @gemm_f16

func.func @gemm_f16(%a: !tile.ptr<f16>, %b: !tile.ptr<f16>, %c: !tile.ptr<f32>) {
  %r = tile.make_range 0 to 32 : tensor<32xi32>
  %row = tile.expand_dims %r, axis = 1 : tensor<32xi32> -> tensor<32x1xi32>
  %col = tile.expand_dims %r, axis = 0 : tensor<32xi32> -> tensor<1x32xi32>
  %c32 = arith.constant dense<32> : tensor<32x1xi32>
  %rs = arith.muli %row, %c32 : tensor<32x1xi32>
  %rb = tile.broadcast %rs : tensor<32x1xi32> -> tensor<32x32xi32>
  %cb = tile.broadcast %col : tensor<1x32xi32> -> tensor<32x32xi32>
  %idx = arith.addi %rb, %cb : tensor<32x32xi32>
  %as = tile.splat %a : !tile.ptr<f16> -> tensor<32x32x!tile.ptr<f16>>
  %ap = tile.addptr %as, %idx : tensor<32x32x!tile.ptr<f16>>, tensor<32x32xi32>
  %av = tile.load %ap : tensor<32x32x!tile.ptr<f16>>
  %bs = tile.splat %b : !tile.ptr<f16> -> tensor<32x32x!tile.ptr<f16>>
  %bp = tile.addptr %bs, %idx : tensor<32x32x!tile.ptr<f16>>, tensor<32x32xi32>
  %bv = tile.load %bp : tensor<32x32x!tile.ptr<f16>>
  %zero = arith.constant dense<0.0> : tensor<32x32xf32>
  %d = tile.dot %av, %bv, %zero : tensor<32x32xf16> * tensor<32x32xf16> -> tensor<32x32xf32>
  %cs = tile.splat %c : !tile.ptr<f32> -> tensor<32x32x!tile.ptr<f32>>
  %cp = tile.addptr %cs, %idx : tensor<32x32x!tile.ptr<f32>>, tensor<32x32xi32>
  tile.store %cp, %d : tensor<32x32x!tile.ptr<f32>>
  return
}

func.func @gemm_bf16(%a: !tile.ptr<bf16>, %b: !tile.ptr<bf16>, %c: !tile.ptr<f32>) {
  %r = tile.make_range 0 to 16 : tensor<16xi32>
  %row = tile.expand_dims %r, axis = 1 : tensor<16xi32> -> tensor<16x1xi32>
  %col = tile.expand_dims %r, axis = 0 : tensor<16xi32> -> tensor<1x16xi32>
  %c16 = arith.constant dense<16> : tensor<16x1xi32>
  %rs = arith.muli %row, %c16 : tensor<16x1xi32>
  %rb = tile.broadcast %rs : tensor<16x1xi32> -> tensor<16x16xi32>
  %cb = tile.broadcast %col : tensor<1x16xi32> -> tensor<16x16xi32>
  %idx = arith.addi %rb, %cb : tensor<16x16xi32>
  %as = tile.splat %a : !tile.ptr<bf16> -> tensor<16x16x!tile.ptr<bf16>>
  %ap = tile.addptr %as, %idx : tensor<16x16x!tile.ptr<bf16>>, tensor<16x16xi32>
  %av = tile.load %ap : tensor<16x16x!tile.ptr<bf16>>
  %bs = tile.splat %b : !tile.ptr<bf16> -> tensor<16x16x!tile.ptr<bf16>>
  %bp = tile.addptr %bs, %idx : tensor<16x16x!tile.ptr<bf16>>, tensor<16x16xi32>
  %bv = tile.load %bp : tensor<16x16x!tile.ptr<bf16>>
  %zero = arith.constant dense<0.0> : tensor<16x16xf32>
  %d = tile.dot %av, %bv, %zero : tensor<16x16xbf16> * tensor<16x16xbf16> -> tensor<16x16xf32>
  %cs = tile.splat %c : !tile.ptr<f32> -> tensor<16x16x!tile.ptr<f32>>
  %cp = tile.addptr %cs, %idx : tensor<16x16x!tile.ptr<f32>>, tensor<16x16xi32>
  tile.store %cp, %d : tensor<16x16x!tile.ptr<f32>>
  return
}

func.func @gemm_tf32(%a: !tile.ptr<f32>, %b: !tile.ptr<f32>, %c: !tile.ptr<f32>) {
  %r = tile.make_range 0 to 16 : tensor<16xi32>
  %row = tile.expand_dims %r, axis = 1 : tensor<16xi32> -> tensor<16x1xi32>
  %col = tile.expand_dims %r, axis = 0 : tensor<16xi32> -> tensor<1x16xi32>
  %c16 = arith.constant dense<16> : tensor<16x1xi32>
  %rs = arith.muli %row, %c16 : tensor<16x1xi32>
  %rb = tile.broadcast %rs : tensor<16x1xi32> -> tensor<16x16xi32>
  %cb = tile.broadcast %col : tensor<1x16xi32> -> tensor<16x16xi32>
  %idx = arith.addi %rb, %cb : tensor<16x16xi32>
  %as = tile.splat %a : !tile.ptr<f32> -> tensor<16x16x!tile.ptr<f32>>
  %ap = tile.addptr %as, %idx : tensor<16x16x!tile.ptr<f32>>, tensor<16x16xi32>
  %av = tile.load %ap : tensor<16x16x!tile.ptr<f32>>
  %bs = tile.splat %b : !tile.ptr<f32> -> tensor<16x16x!tile.ptr<f32>>
  %bp = tile.addptr %bs, %idx : tensor<16x16x!tile.ptr<f32>>, tensor<16x16xi32>
  %bv = tile.load %bp : tensor<16x16x!tile.ptr<f32>>
  %zero = arith.constant dense<0.0> : tensor<16x16xf32>
  %d = tile.dot %av, %bv, %zero, precision = tf32 : tensor<16x16xf32> * tensor<16x16xf32> -> tensor<16x16xf32>
  %cs = tile.splat %c : !tile.ptr<f32> -> tensor<16x16x!tile.ptr<f32>>
  %cp = tile.addptr %cs, %idx : tensor<16x16x!tile.ptr<f32>>, tensor<16x16xi32>
  tile.store %cp, %d : tensor<16x16x!tile.ptr<f32>>
  return
}

func.func @gemm_tf32x3(%a: !tile.ptr<f32>, %b: !tile.ptr<f32>, %c: !tile.ptr<f32>) {
  %r = tile.make_range 0 to 16 : tensor<16xi32>
  %row = tile.expand_dims %r, axis = 1 : tensor<16xi32> -> tensor<16x1xi32>
  %col = tile.expand_dims %r, axis = 0 : tensor<16xi32> -> tensor<1x16xi32>
  %c16 = arith.constant dense<16> : tensor<16x1xi32>
  %rs = arith.muli %row, %c16 : tensor<16x1xi32>
  %rb = tile.broadcast %rs : tensor<16x1xi32> -> tensor<16x16xi32>
  %cb = tile.broadcast %col : tensor<1x16xi32> -> tensor<16x16xi32>
  %idx = arith.addi %rb, %cb : tensor<16x16xi32>
  %as = tile.splat %a : !tile.ptr<f32> -> tensor<16x16x!tile.ptr<f32>>
  %ap = tile.addptr %as, %idx : tensor<16x16x!tile.ptr<f32>>, tensor<16x16xi32>
  %av = tile.load %ap : tensor<16x16x!tile.ptr<f32>>
  %bs = tile.splat %b : !tile.ptr<f32> -> tensor<16x16x!tile.ptr<f32>>
  %bp = tile.addptr %bs, %idx : tensor<16x16x!tile.ptr<f32>>, tensor<16x16xi32>
  %bv = tile.load %bp : tensor<16x16x!tile.ptr<f32>>
  %zero = arith.constant dense<0.0> : tensor<16x16xf32>
  %d = tile.dot %av, %bv, %zero, precision = tf32x3 : tensor<16x16xf32> * tensor<16x16xf32> -> tensor<16x16xf32>
  %cs = tile.splat %c : !tile.ptr<f32> -> tensor<16x16x!tile.ptr<f32>>
  %cp = tile.addptr %cs, %idx : tensor<16x16x!tile.ptr<f32>>, tensor<16x16xi32>
  tile.store %cp, %d : tensor<16x16x!tile.ptr<f32>>
  return
}

func.func @gemm_i8(%a: !tile.ptr<i8>, %b: !tile.ptr<i8>, %c: !tile.ptr<i32>) {
  %r = tile.make_range 0 to 16 : tensor<16xi32>
  %row = tile.expand_dims %r, axis = 1 : tensor<16xi32> -> tensor<16x1xi32>
  %col = tile.expand_dims %r, axis = 0 : tensor<16xi32> -> tensor<1x16xi32>
  %c16 = arith.constant dense<16> : tensor<16x1xi32>
  %rs = arith.muli %row, %c16 : tensor<16x1xi32>
  %rb = tile.broadcast %rs : tensor<16x1xi32> -> tensor<16x16xi32>
  %cb = tile.broadcast %col : tensor<1x16xi32> -> tensor<16x16xi32>
  %idx = arith.addi %rb, %cb : tensor<16x16xi32>
  %as = tile.splat %a : !tile.ptr<i8> -> tensor<16x16x!tile.ptr<i8>>
  %ap = tile.addptr %as, %idx : tensor<16x16x!tile.ptr<i8>>, tensor<16x16xi32>
  %av = tile.load %ap : tensor<16x16x!tile.ptr<i8>>
  %bs = tile.splat %b : !tile.ptr<i8> -> tensor<16x16x!tile.ptr<i8>>
  %bp = tile.addptr %bs, %idx : tensor<16x16x!tile.ptr<i8>>, tensor<16x16xi32>
  %bv = tile.load %bp : tensor<16x16x!tile.ptr<i8>>
  %zero = arith.constant dense<0> : tensor<16x16xi32>
  %d = tile.dot %av, %bv, %zero : tensor<16x16xi8> * tensor<16x16xi8> -> tensor<16x16xi32>
  %cs = tile.splat %c : !tile.ptr<i32> -> tensor<16x16x!tile.ptr<i32>>
  %cp = tile.addptr %cs, %idx : tensor<16x16x!tile.ptr<i32>>, tensor<16x16xi32>
  tile.store %cp, %d : tensor<16x16x!tile.ptr<i32>>
  return
}

func.func @gemm_i8_k32(%a: !tile.ptr<i8>, %b: !tile.ptr<i8>, %c: !tile.ptr<i32>) {
  %r = tile.make_range 0 to 32 : tensor<32xi32>
  %row = tile.expand_dims %r, axis = 1 : tensor<32xi32> -> tensor<32x1xi32>
  %col = tile.expand_dims %r, axis = 0 : tensor<32xi32> -> tensor<1x32xi32>
  %c32 = arith.constant dense<32> : tensor<32x1xi32>
  %rs = arith.muli %row, %c32 : tensor<32x1xi32>
  %rb = tile.broadcast %rs : tensor<32x1xi32> -> tensor<32x32xi32>
  %cb = tile.broadcast %col : tensor<1x32xi32> -> tensor<32x32xi32>
  %idx = arith.addi %rb, %cb : tensor<32x32xi32>
  %as = tile.splat %a : !tile.ptr<i8> -> tensor<32x32x!tile.ptr<i8>>
  %ap = tile.addptr %as, %idx : tensor<32x32x!tile.ptr<i8>>, tensor<32x32xi32>
  %av = tile.load %ap : tensor<32x32x!tile.ptr<i8>>
  %bs = tile.splat %b : !tile.ptr<i8> -> tensor<32x32x!tile.ptr<i8>>
  %bp = tile.addptr %bs, %idx : tensor<32x32x!tile.ptr<i8>>, tensor<32x32xi32>
  %bv = tile.load %bp : tensor<32x32x!tile.ptr<i8>>
  %zero = arith.constant dense<0> : tensor<32x32xi32>
  %d = tile.dot %av, %bv, %zero : tensor<32x32xi8> * tensor<32x32xi8> -> tensor<32x32xi32>
  %cs = tile.splat %c : !tile.ptr<i32> -> tensor<32x32x!tile.ptr<i32>>
  %cp = tile.addptr %cs, %idx : tensor<32x32x!tile.ptr<i32>>, tensor<32x32xi32>
  tile.store %cp, %d : tensor<32x32x!tile.ptr<i32>>
  return
}
