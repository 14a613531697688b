//===- tessera-fuzz.cpp - Fuzz the tile IR parser, verifier and pipelines -===//
//
// One input: tile IR text. It is parsed, verified, and compiled by the CPU
// backend's stages and by the NVIDIA backend's (sm_90a and sm_80, without
// ptxas). Rejections (parse errors, verifier diagnostics, a pass failing
// with a diagnostic) are fine; a crash, a hang or an abort is a finding.
//
// `LLVMFuzzerTestOneInput` is libFuzzer's entry point: configured with
// clang and -DTESSERA_LIBFUZZER=ON the target is a libFuzzer binary. Built
// normally it has its own driver:
//
//   tessera-fuzz [--runs N] [--seed S] [--crash-file F] CORPUS_FILE...
//
// which runs each corpus file, then N inputs made by mutating them (lines
// deleted, duplicated or swapped; numbers, types and op names replaced),
// writing each input to F first so that a crash leaves it behind.
//
//===----------------------------------------------------------------------===//

#include "tessera/CPUBackend.h"
#include "tessera/NVIDIABackend.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

/// How the inputs fared (the driver's summary): compiled by the CPU
/// backend, rejected while parsing or verifying, rejected by a later stage.
static long compiledCount = 0, parseRejected = 0, stageRejected = 0;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string text(reinterpret_cast<const char *>(data), size);
  tessera::cpu::CompileResult cpu = tessera::cpu::compile(text, "fuzz.mlir", false);
  if (cpu.ok)
    ++compiledCount;
  else if (cpu.diagnostics.find("' stage)") == std::string::npos)
    ++parseRejected;
  else
    ++stageRejected;
  for (const char *arch : {"sm_90a", "sm_80"}) {
    tessera::nvidia::Options options;
    options.arch = arch;
    options.cubin = false;
    (void)tessera::nvidia::compile(text, "fuzz.mlir", options, /*dumpStages=*/false);
  }
  return 0;
}

#ifndef TESSERA_LIBFUZZER
namespace {

std::vector<std::string> splitLines(const std::string &text) {
  std::vector<std::string> lines;
  std::stringstream in(text);
  for (std::string line; std::getline(in, line);)
    lines.push_back(line);
  return lines;
}

std::string joinLines(const std::vector<std::string> &lines) {
  std::string out;
  for (const std::string &l : lines)
    out += l + "\n";
  return out;
}

/// Replaces one occurrence of one of `from` in `line` by one of `to`.
bool replaceToken(std::string &line, const std::vector<std::string> &from,
                  const std::vector<std::string> &to, std::mt19937 &rng) {
  std::vector<std::pair<size_t, size_t>> hits; // (position, length)
  for (const std::string &f : from)
    for (size_t p = line.find(f); p != std::string::npos; p = line.find(f, p + 1))
      hits.push_back({p, f.size()});
  if (hits.empty())
    return false;
  auto [pos, len] = hits[rng() % hits.size()];
  line.replace(pos, len, to[rng() % to.size()]);
  return true;
}

std::string mutate(const std::string &text, std::mt19937 &rng) {
  std::vector<std::string> lines = splitLines(text);
  if (lines.empty())
    return text;
  int edits = 1 + int(rng() % 3);
  for (int e = 0; e < edits; ++e) {
    size_t i = rng() % lines.size();
    // Half the edits keep the IR valid (ops swapped for others of the same
    // signature, other constants, other comparison predicates), so that
    // mutants reach the passes rather than stop at the verifier.
    if (rng() % 2) {
      for (int tries = 0; tries < 20; ++tries, i = rng() % lines.size()) {
        std::string &line = lines[i];
        bool done = false;
        switch (rng() % 4) {
        case 0:
          done = replaceToken(line, {"arith.addf", "arith.subf", "arith.mulf", "arith.maxnumf",
                                     "arith.minnumf"},
                              {"arith.addf", "arith.subf", "arith.mulf", "arith.maxnumf",
                               "arith.minnumf", "arith.divf"},
                              rng);
          break;
        case 1:
          done = replaceToken(line, {"arith.addi", "arith.subi", "arith.muli", "arith.maxsi",
                                     "arith.minsi"},
                              {"arith.addi", "arith.subi", "arith.muli", "arith.maxsi",
                               "arith.minsi", "arith.divsi", "arith.remsi", "arith.andi",
                               "arith.ori", "arith.xori"},
                              rng);
          break;
        case 2:
          done = replaceToken(line, {" slt,", " sle,", " sgt,", " sge,", " eq,", " ne,",
                                     " olt,", " ogt,", " oeq,", " une,"},
                              {" slt,", " sle,", " sgt,", " sge,", " eq,", " ne,"}, rng);
          // (a float predicate replaced by an integer one is rejected: fine)
          break;
        default:
          if (line.find("arith.constant") != std::string::npos)
            done = replaceToken(line, {"0", "1", "2", "4", "8", "16", "32", "64", "128"},
                                {"0", "1", "3", "7", "31", "63", "65", "127", "1024"}, rng);
          break;
        }
        if (done)
          break;
      }
      continue;
    }
    switch (rng() % 7) {
    case 0: // delete a line
      if (lines.size() > 1)
        lines.erase(lines.begin() + long(i));
      break;
    case 1: // duplicate a line
      lines.insert(lines.begin() + long(i), lines[i]);
      break;
    case 2: // swap two lines
      std::swap(lines[i], lines[rng() % lines.size()]);
      break;
    case 3: // another number
      replaceToken(lines[i], {"64", "32", "16", "128", "0", "1", "2", "4", "8"},
                   {"0", "1", "3", "16", "17", "64", "256", "-1", "65536", "2147483647"}, rng);
      break;
    case 4: // another element type
      replaceToken(lines[i], {"f32", "f16", "bf16", "i32", "i64", "i1", "i8"},
                   {"f32", "f16", "bf16", "i32", "i64", "i1", "i8", "f64", "f8E4M3FN"}, rng);
      break;
    case 5: // another op of the same kind
      replaceToken(lines[i],
                   {"arith.addf", "arith.mulf", "arith.subf", "arith.maxnumf", "arith.addi",
                    "arith.muli", "tile.broadcast", "tile.expand_dims", "tile.splat",
                    "tile.reduce", "tile.load", "tile.dot", "axis = 0", "axis = 1"},
                   {"arith.addf", "arith.mulf", "arith.divf", "arith.maxnumf", "arith.addi",
                    "arith.muli", "arith.divsi", "tile.broadcast", "tile.expand_dims",
                    "tile.splat", "tile.reshape", "tile.trans", "axis = 0", "axis = 1",
                    "axis = 2"},
                   rng);
      break;
    default: // truncate the line
      lines[i] = lines[i].substr(0, rng() % (lines[i].size() + 1));
      break;
    }
  }
  return joinLines(lines);
}

} // namespace

int main(int argc, char **argv) {
  long runs = 100;
  unsigned seed = 1;
  std::string crashFile = "tessera-fuzz-input.mlir";
  std::vector<std::string> corpus;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--runs" && i + 1 < argc)
      runs = std::atol(argv[++i]);
    else if (arg == "--seed" && i + 1 < argc)
      seed = unsigned(std::atol(argv[++i]));
    else if (arg == "--crash-file" && i + 1 < argc)
      crashFile = argv[++i];
    else {
      std::ifstream in(arg);
      if (!in) {
        std::fprintf(stderr, "tessera-fuzz: cannot read %s\n", arg.c_str());
        return 2;
      }
      std::stringstream buffer;
      buffer << in.rdbuf();
      corpus.push_back(buffer.str());
    }
  }
  if (corpus.empty()) {
    std::fprintf(stderr, "usage: tessera-fuzz [--runs N] [--seed S] [--crash-file F] "
                         "CORPUS_FILE...\n");
    return 2;
  }
  auto run = [&](const std::string &input) {
    {
      std::ofstream out(crashFile, std::ios::trunc);
      out << input;
    }
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t *>(input.data()), input.size());
  };
  for (const std::string &input : corpus)
    run(input);
  std::mt19937 rng(seed);
  for (long r = 0; r < runs; ++r)
    run(mutate(corpus[rng() % corpus.size()], rng));
  std::remove(crashFile.c_str());
  std::printf("tessera-fuzz: %zu corpus inputs and %ld mutants, no crash (seed %u); on the "
              "CPU backend %ld compiled, %ld rejected by the parser or verifier, %ld by a "
              "later stage\n",
              corpus.size(), runs, seed, compiledCount, parseRejected, stageRejected);
  return 0;
}
#endif
