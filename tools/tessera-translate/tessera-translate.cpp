//===- tessera-translate.cpp - tile IR to PTX from the command line -------===//
//
// Runs the NVIDIA backend on a tile IR file and prints the PTX (or the IR
// after every stage with --dump): the driver of the lit tests down to PTX.
//
//===----------------------------------------------------------------------===//

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
      std::puts("usage: tessera-translate [--arch=sm_90a] [--num-warps=4] "
                "[--num-stages=3] [--dump] FILE.mlir\nPrints the PTX of the tile "
                "kernels in FILE.");
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
  auto result = tessera::nvidia::compile(text.str(), path, options, dump);
  if (!result.ok) {
    std::cerr << result.diagnostics;
    return 1;
  }
  if (dump)
    for (auto &[stage, ir] : result.dumps)
      std::cout << "// -----// after stage '" << stage << "' //----- //\n"
                << ir << "\n";
  else
    std::cout << result.ptx;
  return 0;
}
