// Math without an AMDGCN instruction (erf; float64 exp, log, sin, cos...)
// is ROCm's ocml: the expansion calls __ocml_erf_f32 / __ocml_exp_f64, the
// backend links only those from amdgcn/bitcode/ocml.bc (Debian's
// rocm-device-libs), defines the __oclc_* controls ocml reads (the ISA
// version per target, wave64, IEEE denormals) and the optimizer inlines
// them: no calls in the ISA.
// REQUIRES: ocml
// RUN: tessera-translate --arch=gfx942 --dump %s 2>&1 | FileCheck %s --check-prefix=IR
// RUN: tessera-translate --arch=gfx90a %s | FileCheck %s
// A missing ocml is an error at the op's source line.
// RUN: env TESSERA_OCML=%t.missing not tessera-translate --arch=gfx942 %s 2>&1 | FileCheck %s --check-prefix=MISSING

// IR-LABEL: after stage 'rocdl'
// IR-DAG: llvm.func @__ocml_erf_f32(f32) -> f32
// IR-DAG: llvm.func @__ocml_exp_f64(f64) -> f64
// IR: llvm.call @__ocml_erf_f32
// IR: llvm.call @__ocml_exp_f64
// IR-LABEL: after stage 'llvm-ir'
// IR-NOT: declare {{.*}}@__ocml_
// IR: define amdgpu_kernel void @erf_exp64

// CHECK-LABEL: erf_exp64:
// CHECK-NOT: s_swappc
// CHECK: v_fma_f64
// CHECK: s_endpgm
// CHECK-NOT: __ocml
// CHECK-NOT: __oclc

// MISSING: ocml.mlir:[[# @LINE + 11]]:8: error: erf on 'f32' is computed by ROCm's ocml (amdgcn/bitcode/ocml.bc), which was not found ('{{.*}}.missing' does not exist): install ROCm or Debian's rocm-device-libs, or set TESSERA_OCML to the file
func.func @erf_exp64(%x: !tile.ptr<f32>, %y: !tile.ptr<f64>) {
  %pid = tile.program_id x : i32
  %c = arith.constant 256 : i32
  %base = arith.muli %pid, %c : i32
  %r = tile.make_range 0 to 256 : tensor<256xi32>
  %b = tile.splat %base : i32 -> tensor<256xi32>
  %offs = arith.addi %b, %r : tensor<256xi32>
  %xs = tile.splat %x : !tile.ptr<f32> -> tensor<256x!tile.ptr<f32>>
  %xp = tile.addptr %xs, %offs : tensor<256x!tile.ptr<f32>>, tensor<256xi32>
  %a = tile.load %xp : tensor<256x!tile.ptr<f32>>
  %e = math.erf %a : tensor<256xf32>
  tile.store %xp, %e : tensor<256x!tile.ptr<f32>>
  %ys = tile.splat %y : !tile.ptr<f64> -> tensor<256x!tile.ptr<f64>>
  %yp = tile.addptr %ys, %offs : tensor<256x!tile.ptr<f64>>, tensor<256xi32>
  %d = tile.load %yp : tensor<256x!tile.ptr<f64>>
  %x64 = math.exp %d : tensor<256xf64>
  tile.store %yp, %x64 : tensor<256x!tile.ptr<f64>>
  return
}
