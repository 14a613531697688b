//===- tessera-translate.cpp - tile IR to PTX or AMDGCN -------------------===//
//
// Runs the NVIDIA backend (--arch=sm_*) or the AMD one (--arch=gfx90a,
// gfx942) on a tile IR file and prints the PTX or AMDGCN assembly (or the
// IR after every stage with --dump): the driver of the lit tests down to
// machine code.
//
//===----------------------------------------------------------------------===//

#include "tessera/AMDBackend.h"
#include "tessera/NVIDIABackend.h"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

int main(int argc, char **argv) {
  tessera::nvidia::Options options;
  options.cubin = false;
  bool dump = false;
  const char *path = nullptr;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--arch=", 0) == 0)
      options.arch = arg.substr(7);
    else if (arg.rfind("--num-warps=", 0) == 0)
      options.numWarps = std::stoi(arg.substr(12));
    else if (arg.rfind("--num-stages=", 0) == 0)
      options.numStages = std::stoi(arg.substr(13));
    else if (arg == "--dump")
      dump = true;
    else if (arg == "--help") {
      std::puts("usage: tessera-translate [--arch=sm_90a|sm_80|gfx90a|gfx942] "
                "[--num-warps=4] [--num-stages=3] [--dump] FILE.mlir\nPrints the PTX "
                "(or, for gfx targets, the AMDGCN assembly) of the tile kernels in FILE.");
      return 0;
    } else
      path = argv[i];
  }
  if (!path) {
    std::fprintf(stderr, "tessera-translate: no input file (see --help)\n");
    return 2;
  }
  std::ifstream in(path);
  if (!in) {
    std::fprintf(stderr, "tessera-translate: cannot read %s\n", path);
    return 2;
  }
  std::stringstream text;
  text << in.rdbuf();
  auto print = [&](const auto &result, const std::string &code) {
    if (!result.ok) {
      std::cerr << result.diagnostics;
      return 1;
    }
    if (dump)
      for (auto &[stage, ir] : result.dumps)
        std::cout << "// -----// after stage '" << stage << "' //----- //\n"
                  << ir << "\n";
    else
      std::cout << code;
    return 0;
  };
  if (options.arch.rfind("gfx", 0) == 0) {
    tessera::amd::Options amd;
    amd.arch = options.arch;
    amd.numWarps = options.numWarps;
    amd.link = false;
    auto result = tessera::amd::compile(text.str(), path, amd, dump);
    return print(result, result.assembly);
  }
  auto result = tessera::nvidia::compile(text.str(), path, options, dump);
  return print(result, result.ptx);
}
