//===- NVIDIABackend.h - tile IR to PTX and cubin ---------------*- C++ -*-===//
//
// tile -> tilegpu (layouts) -> per-thread NVVM/LLVM -> LLVM IR -> NVPTX ->
// PTX, then a cubin with ptxas when it is installed (else the driver JITs
// the PTX at load).
//
//===----------------------------------------------------------------------===//

#ifndef TESSERA_NVIDIABACKEND_H
#define TESSERA_NVIDIABACKEND_H

#include "tessera/Stage.h"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace tessera::nvidia {

struct Options {
  /// sm_80, sm_89, sm_90a...
  std::string arch = "sm_90a";
  unsigned numWarps = 4;
  /// Loop iterations whose dot operand loads are in flight (1: none).
  unsigned numStages = 3;
  /// TMA copies for tensor-descriptor loads of pipelined loops (sm_90a).
  bool tma = true;
  /// Two warpgroups take turns issuing the wgmma dots of a loop with
  /// several (named barriers), so one's softmax runs beside the other's
  /// dots.
  bool pingPong = true;
  /// In such loops whose copies are all TMA copies, a warp of its own
  /// issues them (tilegpu.producer): the block gets one more warp.
  bool producerWarp = false;
  /// With producerWarp: 0 for one producer warp; else a producer warpgroup
  /// that keeps this many registers a thread and gives the rest to the
  /// consumer warpgroups (setmaxnreg): the block gets four more warps.
  unsigned producerRegisters = 0;
  /// Loops whose scores the first warpgroups compute alone (MLA's) issue
  /// their copies after those dots, once every thread released the slot,
  /// so P V stays in flight beside the next scores (tilegpu-pipeline-loads'
  /// `lag`; not yet the default: not yet run on a GPU).
  bool lag = false;
  /// Run ptxas (when found) to make a cubin.
  bool cubin = true;
  /// CUDA's libdevice.10.bc, for the math without an instruction (tl.erf,
  /// float64 exp/log/sin/cos); empty: findLibdevice().
  std::string libdevice;
};

using tessera::Stage;

/// The compute capability of an arch name: sm_90a -> 90 (0 if unknown).
unsigned computeCapability(const std::string &arch);

/// The stages, in order, for `options`.
std::vector<Stage> stages(const Options &options);

struct CompileResult {
  bool ok = false;
  std::string ptx;
  /// Empty when ptxas was not found or not asked for.
  std::string cubin;
  /// Dynamic shared memory the kernel needs, in bytes.
  int64_t sharedBytes = 0;
  /// The block's warps: num_warps, plus one when the kernel has a producer
  /// warp (tilegpu.producer).
  unsigned blockWarps = 0;
  /// The TMA tensor maps the kernel takes after its parameters, as the
  /// launcher encodes them ("dtype,base,dim0,dim1,stride1,box0,box1,swizzle").
  std::vector<std::string> tmaMaps;
  std::string diagnostics;
  std::vector<std::pair<std::string, std::string>> dumps;
};

CompileResult compile(const std::string &source, const std::string &bufferName,
                      const Options &options, bool dumpStages);

/// The ptxas that compile() uses: $TESSERA_PTXAS, ptxas on PATH, or
/// /usr/local/cuda/bin/ptxas; empty when there is none.
std::string findPtxas();

/// CUDA's libdevice.10.bc: $TESSERA_LIBDEVICE, else nvvm/libdevice under
/// $CUDA_HOME, $CUDA_PATH, ptxas's CUDA or /usr/local/cuda; empty when there
/// is none.
std::string findLibdevice();

} // namespace tessera::nvidia

#endif // TESSERA_NVIDIABACKEND_H
