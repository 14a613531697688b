// RUN: tessera-opt %s | tessera-opt | FileCheck %s
// RUN: tessera-opt %s --verify-roundtrip > /dev/null

// CHECK: #[[L:.*]] = #tilegpu.blocked<sizePerThread = [4], threadsPerWarp = [32], warpsPerCTA = [4], order = [0]>
// CHECK: #[[M:.*]] = #tilegpu.blocked<sizePerThread = [1, 4], threadsPerWarp = [2, 16], warpsPerCTA = [4, 1], order = [1, 0]>
// CHECK: #[[MMA:.*]] = #tilegpu.mma<version = 2, warpsPerCTA = [2, 2]>
// CHECK-DAG: #[[MMA3:.*]] = #tilegpu.mma<version = 3, warpsPerCTA = [8, 1]>
// CHECK-DAG: #[[MMA3N:.*]] = #tilegpu.mma<version = 3, warpsPerCTA = [4, 2]>
// CHECK-DAG: #[[SLICE3N:.*]] = #tilegpu.slice<dim = 1, parent = #[[MMA3N]]>
// CHECK-DAG: #[[MFMA:.*]] = #tilegpu.mma<mfma, warpsPerCTA = [2, 2]>
// CHECK-DAG: #[[MFMAROWS:.*]] = #tilegpu.slice<dim = 1, parent = #[[MFMA]]>
// CHECK-DAG: #[[SW128:.*]] = #tilegpu.shared<swizzle = 128>
// CHECK-DAG: #[[SH:.*]] = #tilegpu.shared{{$}}
// CHECK-DAG: #[[SLICE:.*]] = #tilegpu.slice<dim = 1, parent = #[[MMA3]]>
#l = #tilegpu.blocked<sizePerThread = [4], threadsPerWarp = [32], warpsPerCTA = [4], order = [0]>
#m = #tilegpu.blocked<sizePerThread = [1, 4], threadsPerWarp = [2, 16], warpsPerCTA = [4, 1], order = [1, 0]>
#n = #tilegpu.blocked<sizePerThread = [1, 1], threadsPerWarp = [32, 1], warpsPerCTA = [1, 4], order = [0, 1]>

// CHECK-LABEL: func.func @layouts
// CHECK-SAME: tensor<1024xf32, #[[L]]>
func.func @layouts(%x: tensor<1024xf32, #l>, %y: tensor<8x64xf16, #m>) -> tensor<8x64xf16, #n> {
  // CHECK: tilegpu.convert_layout %{{.*}} : tensor<8x64xf16, #[[M]]> -> tensor<8x64xf16, #{{.*}}>
  %0 = tilegpu.convert_layout %y : tensor<8x64xf16, #m> -> tensor<8x64xf16, #n>
  return %0 : tensor<8x64xf16, #n>
}

// The tensor-core accumulator layout (its alias, #mma, is printed first).
// CHECK-LABEL: func.func @mma_layout
#acc = #tilegpu.mma<version = 2, warpsPerCTA = [2, 2]>
#l2 = #tilegpu.blocked<sizePerThread = [1, 4], threadsPerWarp = [2, 16], warpsPerCTA = [4, 1], order = [1, 0]>
func.func @mma_layout(%x: tensor<64x64xf32, #acc>) -> tensor<64x64xf32, #l2> {
  // CHECK: tilegpu.convert_layout %{{.*}} : tensor<64x64xf32, #[[MMA]]> -> tensor<64x64xf32, #{{.*}}>
  %0 = tilegpu.convert_layout %x : tensor<64x64xf32, #acc> -> tensor<64x64xf32, #l2>
  return %0 : tensor<64x64xf32, #l2>
}

// The wgmma accumulator layout (version 3) and the swizzled shared tiles its
// operands live in.
// CHECK-LABEL: func.func @wgmma_layouts
// CHECK-SAME: tensor<128x256xf32, #[[MMA3]]>, %{{.*}}: tensor<128x64xf16, #[[SW128]]>, %{{.*}}: tensor<64x256xf16, #[[SH]]>
func.func @wgmma_layouts(%acc: tensor<128x256xf32, #tilegpu.mma<version = 3, warpsPerCTA = [8, 1]>>,
                         %a: tensor<128x64xf16, #tilegpu.shared<swizzle = 128>>,
                         %b: tensor<64x256xf16, #tilegpu.shared<swizzle = 0>>) { return }

// Warpgroups side by side along N (each a slab of 256 columns) and the
// rows' slice of that layout.
// CHECK-LABEL: func.func @wgmma_split_n
// CHECK-SAME: tensor<64x512xf32, #[[MMA3N]]>, %{{.*}}: tensor<64xf32, #[[SLICE3N]]>
func.func @wgmma_split_n(%acc: tensor<64x512xf32, #tilegpu.mma<version = 3, warpsPerCTA = [4, 2]>>,
                         %rows: tensor<64xf32, #tilegpu.slice<dim = 1, parent = #tilegpu.mma<version = 3, warpsPerCTA = [4, 2]>>>) { return }

// Row statistics of an mma accumulator: its slice along dimension 1.
// CHECK-LABEL: func.func @slice_layout
// CHECK-SAME: tensor<128xf32, #[[SLICE]]>
func.func @slice_layout(%rows: tensor<128xf32, #tilegpu.slice<dim = 1, parent = #tilegpu.mma<version = 3, warpsPerCTA = [8, 1]>>>) { return }

// The slot-barrier ops of an async-copy pipeline round-trip.
// CHECK-LABEL: func.func @slot_barriers
// CHECK: tilegpu.slot_barriers_init {slots = 3 : i32}
// CHECK: tilegpu.async_arrive %{{.*}} {slots = 3 : i32}
// CHECK: tilegpu.slot_wait %{{.*}}, %{{.*}} {slots = 3 : i32}
// CHECK: tilegpu.slot_wait %{{.*}}, %{{.*}} {empty, slots = 3 : i32}
// CHECK: tilegpu.slot_release %{{.*}} {slots = 3 : i32}
// CHECK: tilegpu.slot_barriers_done {slots = 3 : i32}
func.func @slot_barriers(%slot: i32, %phase: i32) {
  tilegpu.slot_barriers_init {slots = 3 : i32}
  tilegpu.async_arrive %slot {slots = 3 : i32}
  tilegpu.slot_wait %slot, %phase {slots = 3 : i32}
  tilegpu.slot_wait %slot, %phase {empty, slots = 3 : i32}
  tilegpu.slot_release %slot {slots = 3 : i32}
  tilegpu.slot_barriers_done {slots = 3 : i32}
  return
}

// A slot's tile read in place round-trips.
// CHECK-LABEL: func.func @slot_view
// CHECK: tilegpu.slot_view %{{.*}} {buffer = 1 : i32, slots = 3 : i32} : tensor<128x64xbf16, #{{.*}}>
func.func @slot_view(%slot: i32) -> tensor<128x64xbf16, #tilegpu.shared<swizzle = 128>> {
  %t = tilegpu.slot_view %slot {buffer = 1 : i32, slots = 3 : i32} : tensor<128x64xbf16, #tilegpu.shared<swizzle = 128>>
  return %t : tensor<128x64xbf16, #tilegpu.shared<swizzle = 128>>
}

// A producer warp's region: a loop of slot waits, armed mbarriers and TMA
// copies, before any op on tiles.
// CHECK-LABEL: func.func @producer
// CHECK: tilegpu.producer {
// CHECK: scf.for
// CHECK: tilegpu.slot_wait %{{.*}} {empty, slots = 3 : i32}
// CHECK: tilegpu.tma_expect
// CHECK: tilegpu.tma_load
// CHECK-NEXT: {{^ *}}}
// CHECK-NEXT: {{^ *}}}
// CHECK-NEXT: return
func.func @producer(%k: !tile.ptr<f16>, %rows: i32, %stride: i64, %n: i32) {
  %c0 = arith.constant 0 : i32
  %c1 = arith.constant 1 : i32
  %c1_64 = arith.constant 1 : i64
  %d = arith.constant 64 : i32
  %true = arith.constant true
  tilegpu.tma_init {slots = 3 : i32}
  tilegpu.slot_barriers_init {slots = 3 : i32}
  tilegpu.producer {
    scf.for %i = %c0 to %n step %c1 : i32 {
      %s = arith.remui %i, %d : i32
      tilegpu.slot_wait %s, %c1 {empty, slots = 3 : i32}
      tilegpu.tma_expect %s, %true {bytes = 8192 : i32, slots = 3 : i32}
      %row = arith.muli %i, %d : i32
      %x = tilegpu.tma_load %k[%row, %c0] shape [%rows, %d] strides [%stride, %c1_64] slot %s, %true {buffer = 0 : i32, slots = 3 : i32} : !tile.ptr<f16> -> tensor<64x64xf16, #tilegpu.shared<swizzle = 128>>
    }
  }
  return
}

// AMD's MFMA accumulator layout (16 x 16 tiles) and its row slice.
// CHECK-LABEL: func.func @mfma_layout
// CHECK-SAME: tensor<64x64xf32, #[[MFMA]]>
// CHECK-SAME: tensor<64xf32, #[[MFMAROWS]]>
func.func @mfma_layout(%x: tensor<64x64xf32, #tilegpu.mma<mfma, warpsPerCTA = [2, 2]>>,
                       %r: tensor<64xf32, #tilegpu.slice<dim = 1, parent = #tilegpu.mma<mfma, warpsPerCTA = [2, 2]>>>) {
  return
}
