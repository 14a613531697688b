// The AMD backend down to AMDGCN for gfx942 (MI300) and gfx90a (MI200):
// wave64 workgroups (64 * num-warps threads), workitem and workgroup ids
// from the hardware registers, masked global loads and stores.
// RUN: tessera-translate --arch=gfx942 --num-warps=4 %s | FileCheck %s --check-prefixes=CHECK,MI300
// RUN: tessera-translate --arch=gfx90a --num-warps=2 %s | FileCheck %s --check-prefixes=CHECK,MI200

// MI300: .amdgcn_target "amdgcn-amd-amdhsa--gfx942
// MI200: .amdgcn_target "amdgcn-amd-amdhsa--gfx90a
// CHECK: .amdhsa_code_object_version 5
// CHECK-LABEL: add:
// The kernel arguments, then the workgroup id scaled by 1024.
// CHECK: s_load_dwordx4 s[{{[0-9]+}}:{{[0-9]+}}], s[{{[0-9]+}}:{{[0-9]+}}], 0x0
// CHECK: s_lshl_b32 {{s[0-9]+}}, s{{[0-9]+}}, 10
// CHECK: global_load_dword
// CHECK: v_add_f32
// CHECK: global_store_dword
// CHECK: s_endpgm
// CHECK: .amdhsa_kernel add
// CHECK: .amdhsa_group_segment_fixed_size 0
// CHECK: .amdgpu_metadata
// CHECK: .kernarg_segment_size: 20
// MI300: .max_flat_workgroup_size: 256
// MI200: .max_flat_workgroup_size: 128
// CHECK: .name: add
// CHECK: .reqd_workgroup_size:
// MI300-NEXT: - 256
// MI200-NEXT: - 128
// CHECK: .wavefront_size: 64
func.func @add(%x: !tile.ptr<f32>, %y: !tile.ptr<f32>, %n: i32) {
  %pid = tile.program_id x : i32
  %c = arith.constant 1024 : i32
  %base = arith.muli %pid, %c : i32
  %r = tile.make_range 0 to 1024 : tensor<1024xi32>
  %b = tile.splat %base : i32 -> tensor<1024xi32>
  %offs = arith.addi %b, %r : tensor<1024xi32>
  %ns = tile.splat %n : i32 -> tensor<1024xi32>
  %m = arith.cmpi slt, %offs, %ns : tensor<1024xi32>
  %xs = tile.splat %x : !tile.ptr<f32> -> tensor<1024x!tile.ptr<f32>>
  %xp = tile.addptr %xs, %offs : tensor<1024x!tile.ptr<f32>>, tensor<1024xi32>
  %ys = tile.splat %y : !tile.ptr<f32> -> tensor<1024x!tile.ptr<f32>>
  %yp = tile.addptr %ys, %offs : tensor<1024x!tile.ptr<f32>>, tensor<1024xi32>
  %a = tile.load %xp, %m : tensor<1024x!tile.ptr<f32>>
  %v = tile.load %yp, %m : tensor<1024x!tile.ptr<f32>>
  %s = arith.addf %a, %v : tensor<1024xf32>
  tile.store %xp, %s, %m : tensor<1024x!tile.ptr<f32>>
  return
}
