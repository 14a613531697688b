// fp8: an e4m3 x e5m2 dot on mma.sync m16n8k32 (sm_89+) with fp32
// accumulation, and conversions fp32 -> e4m3 (cvt.rn.satfinite, two per
// instruction) and e4m3 -> f16 -> fp32; ptxas accepts the PTX for sm_89 and
// sm_90a. On sm_80 the dot is an error that names what it needs.
// RUN: tessera-translate --arch=sm_89 %s > %t.89.ptx
// RUN: FileCheck %s < %t.89.ptx
// RUN: not tessera-translate --arch=sm_80 %s 2>&1 | FileCheck %s --check-prefix=SM80
// CHECK: mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e5m2.f32
// CHECK: cvt.rn.satfinite.e4m3x2.f32
// CHECK: cvt.rn.f16x2.e4m3x2
// SM80: error: 'tile.dot' op on fp8 needs tensor cores: sm_89 or newer
func.func @fp8(%a: !tile.ptr<f8E4M3FN> {tile.divisibility = 16 : i32}, %b: !tile.ptr<f8E5M2> {tile.divisibility = 16 : i32}, %c: !tile.ptr<f32> {tile.divisibility = 16 : i32}, %y: !tile.ptr<f8E4M3FN> {tile.divisibility = 16 : i32}) {
  %r = tile.make_range 0 to 32 : tensor<32xi32>
  %row = tile.expand_dims %r, axis = 0 : tensor<32xi32> -> tensor<1x32xi32>
  %idx = tile.broadcast %row : tensor<1x32xi32> -> tensor<32x32xi32>
  %pa = tile.splat %a : !tile.ptr<f8E4M3FN> -> tensor<32x32x!tile.ptr<f8E4M3FN>>
  %pa1 = tile.addptr %pa, %idx : tensor<32x32x!tile.ptr<f8E4M3FN>>, tensor<32x32xi32>
  %pb = tile.splat %b : !tile.ptr<f8E5M2> -> tensor<32x32x!tile.ptr<f8E5M2>>
  %pb1 = tile.addptr %pb, %idx : tensor<32x32x!tile.ptr<f8E5M2>>, tensor<32x32xi32>
  %av = tile.load %pa1 : tensor<32x32x!tile.ptr<f8E4M3FN>>
  %bv = tile.load %pb1 : tensor<32x32x!tile.ptr<f8E5M2>>
  %zero = arith.constant dense<0.0> : tensor<32x32xf32>
  %d = tile.dot %av, %bv, %zero : tensor<32x32xf8E4M3FN> * tensor<32x32xf8E5M2> -> tensor<32x32xf32>
  %f8 = arith.truncf %d : tensor<32x32xf32> to tensor<32x32xf8E4M3FN>
  %py = tile.splat %y : !tile.ptr<f8E4M3FN> -> tensor<32x32x!tile.ptr<f8E4M3FN>>
  %py1 = tile.addptr %py, %idx : tensor<32x32x!tile.ptr<f8E4M3FN>>, tensor<32x32xi32>
  tile.store %py1, %f8 : tensor<32x32x!tile.ptr<f8E4M3FN>>
  %back = arith.extf %f8 : tensor<32x32xf8E4M3FN> to tensor<32x32xf32>
  %pc = tile.splat %c : !tile.ptr<f32> -> tensor<32x32x!tile.ptr<f32>>
  %pc1 = tile.addptr %pc, %idx : tensor<32x32x!tile.ptr<f32>>, tensor<32x32xi32>
  tile.store %pc1, %back : tensor<32x32x!tile.ptr<f32>>
  return
}
