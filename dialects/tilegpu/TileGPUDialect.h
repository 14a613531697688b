//===- TileGPUDialect.h - GPU layouts of tile tensors -----------*- C++ -*-===//

#ifndef TESSERA_DIALECTS_TILEGPU_TILEGPUDIALECT_H
#define TESSERA_DIALECTS_TILEGPU_TILEGPUDIALECT_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/TensorEncoding.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "dialects/tilegpu/TileGPUDialect.h.inc"

#define GET_ATTRDEF_CLASSES
#include "dialects/tilegpu/TileGPUAttrs.h.inc"

#define GET_OP_CLASSES
#include "dialects/tilegpu/TileGPUOps.h.inc"

namespace tessera::tilegpu {
/// The module attribute holding the number of warps per program.
constexpr const char *kNumWarpsAttr = "tilegpu.num_warps";
/// The target's compute capability (80, 89, 90), set with the layouts.
constexpr const char *kComputeCapabilityAttr = "tilegpu.compute_capability";
/// Lanes a warp (32; 64 for AMD CDNA wavefronts), set by convert-tile-to-tilegpu.
constexpr const char *kThreadsPerWarpAttr = "tilegpu.threads_per_warp";
/// On a tile.dot with the wgmma layout in a pipelined loop: its
/// instructions may still run while the next iteration starts (the loop's
/// copies have a slot to spare); the NVVM lowering waits for them one
/// iteration later.
constexpr const char *kWgmmaInFlightAttr = "tilegpu.wgmma_in_flight";
/// On the tilegpu.async_wait (pending 0) after a pipelined loop: its copies
/// are done and its shared slots are not read again.
constexpr const char *kPipelineDrainedAttr = "tilegpu.pipeline_drained";
/// On a tilegpu.tma_wait of a loop with slot barriers: the slots' empty
/// barriers order their reuse, so the wait needs no CTA barrier after it.
constexpr const char *kSlotOrderedAttr = "tilegpu.slot_ordered";
} // namespace tessera::tilegpu

#endif // TESSERA_DIALECTS_TILEGPU_TILEGPUDIALECT_H
