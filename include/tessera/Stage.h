//===- Stage.h - One step of a backend's pipeline ---------------*- C++ -*-===//

#ifndef TESSERA_STAGE_H
#define TESSERA_STAGE_H

#include <string>

namespace tessera {

/// A named textual MLIR pass pipeline; a backend is a list of them (whose
/// names TESSERA_DUMP_IR prints) followed by code generation.
struct Stage {
  std::string name;
  std::string pipeline;
};

} // namespace tessera

#endif // TESSERA_STAGE_H
