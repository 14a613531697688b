// Math without a PTX instruction (erf; float64 exp, log, sin, cos...) is
// CUDA's libdevice: the expansion calls __nv_erff / __nv_exp, the backend
// links only those functions from nvvm/libdevice/libdevice.10.bc and the
// optimizer inlines them, so the PTX has no calls left.
// REQUIRES: libdevice
// RUN: tessera-translate --arch=sm_90a --dump %s 2>&1 | FileCheck %s --check-prefix=IR
// RUN: tessera-translate --arch=sm_80 %s | FileCheck %s
// A missing libdevice is an error at the op's source line.
// RUN: env TESSERA_LIBDEVICE=%t.missing not tessera-translate --arch=sm_90a %s 2>&1 | FileCheck %s --check-prefix=MISSING

// IR-LABEL: after stage 'nvvm'
// IR-DAG: llvm.func @__nv_erff(f32) -> f32
// IR-DAG: llvm.func @__nv_exp(f64) -> f64
// IR: llvm.call @__nv_erff
// IR: llvm.call @__nv_exp
// IR-LABEL: after stage 'llvm-ir'
// IR-NOT: declare {{.*}}@__nv_
// IR: define ptx_kernel void @erf_exp64

// CHECK-NOT: .extern
// CHECK-LABEL: .entry erf_exp64
// CHECK-NOT: call
// The float64 exp's range reduction, in double precision.
// CHECK: fma.rn.f64
// CHECK: ret;

// MISSING: libdevice.mlir:[[# @LINE + 11]]:8: error: erf on 'f32' is computed by CUDA's libdevice (nvvm/libdevice/libdevice.10.bc), which was not found ('{{.*}}.missing' does not exist): install the CUDA toolkit, or set TESSERA_LIBDEVICE to the file
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
