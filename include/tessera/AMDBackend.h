//===- AMDBackend.h - tile IR to AMDGCN and HSACO ---------------*- C++ -*-===//
//
// tile -> tilegpu (wave64 layouts) -> per-thread ROCDL/LLVM -> LLVM IR ->
// AMDGPU -> an ELF object, linked by ld.lld into an HSA code object (HSACO)
// that hipModuleLoadData loads.
//
//===----------------------------------------------------------------------===//

#ifndef TESSERA_AMDBACKEND_H
#define TESSERA_AMDBACKEND_H

#include "tessera/Stage.h"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace tessera::amd {

struct Options {
  /// gfx90a (MI200), gfx942 (MI300).
  std::string arch = "gfx942";
  /// Wavefronts (64 threads each) per workgroup.
  unsigned numWarps = 4;
  /// Link the object into an HSACO with ld.lld (when found).
  bool link = true;
  /// ROCm's ocml.bc, for the math without an instruction (tl.erf, float64
  /// exp/log/sin/cos); empty: findOcml().
  std::string ocml;
};

/// The stages, in order, for `options`.
std::vector<tessera::Stage> stages(const Options &options);

struct CompileResult {
  bool ok = false;
  /// The AMDGCN assembly.
  std::string assembly;
  /// The HSA code object; empty when ld.lld was not found or not asked for.
  std::string hsaco;
  /// Dynamic LDS the kernel needs, in bytes.
  int64_t sharedBytes = 0;
  std::string diagnostics;
  std::vector<std::pair<std::string, std::string>> dumps;
};

CompileResult compile(const std::string &source, const std::string &bufferName,
                      const Options &options, bool dumpStages);

/// The ld.lld compile() links with: $TESSERA_LLD, ld.lld-22 or ld.lld on
/// PATH, or LLVM 22's; empty when there is none.
std::string findLld();

/// ROCm's device library ocml.bc: $TESSERA_OCML, else amdgcn/bitcode/ocml.bc
/// under $ROCM_PATH or /opt/rocm, or Debian's (rocm-device-libs); empty when
/// there is none.
std::string findOcml();

/// Whether `arch` is a target the backend compiles for.
bool supportedArch(const std::string &arch);

} // namespace tessera::amd

#endif // TESSERA_AMDBACKEND_H
