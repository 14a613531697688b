//===- NVIDIABackend.cpp - tile IR to PTX and cubin -----------------------===//

#include "tessera/NVIDIABackend.h"

#include "tessera/InitAll.h"

#include "CompileSession.h"
#include "dialects/tile/TileDialect.h"

#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/NVVM/NVVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Export.h"

#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"

#include <cstdlib>
#include <mutex>

extern "C" void LLVMInitializeNVPTXTarget();
extern "C" void LLVMInitializeNVPTXTargetInfo();
extern "C" void LLVMInitializeNVPTXTargetMC();
extern "C" void LLVMInitializeNVPTXAsmPrinter();

using namespace mlir;
using namespace tessera::nvidia;

unsigned tessera::nvidia::computeCapability(const std::string &arch) {
  // sm_90a -> 90, sm_80 -> 80; anything else -> 0 (no tensor cores assumed).
  if (arch.rfind("sm_", 0) != 0)
    return 0;
  unsigned cc = 0;
  for (char c : arch.substr(3)) {
    if (c < '0' || c > '9')
      break;
    cc = cc * 10 + unsigned(c - '0');
  }
  return cc;
}

std::vector<Stage> tessera::nvidia::stages(const Options &options) {
  return {
      {"tile", std::string("builtin.module(inline,symbol-dce,canonicalize,cse,"
                           "tile-lower-descriptors{keep-tma=") +
                   (options.arch == "sm_90a" && options.tma ? "1" : "0") +
                   "},tile-widen-offsets,tile-combine,canonicalize,loop-invariant-code-motion,cse)"},
      {"tilegpu", "builtin.module(convert-tile-to-tilegpu{num-warps=" +
                      std::to_string(options.numWarps) + " compute-capability=" +
                      std::to_string(computeCapability(options.arch)) +
                      (options.arch == "sm_90a" ? " wgmma=1" : "") +
                      "},tilegpu-pipeline-loads{num-stages=" +
                      std::to_string(options.numStages) + " async-copy=" +
                      (computeCapability(options.arch) >= 80 ? "1" : "0") +
                      " ping-pong=" + (options.pingPong ? "1" : "0") +
                      " producer-warp=" + (options.producerWarp ? "1" : "0") +
                      " lag=" + (options.lag ? "1" : "0") +
                      "},canonicalize,cse)"},
      {"nvvm", std::string("builtin.module(convert-tilegpu-to-nvvm{ping-pong=") +
                   (options.pingPong ? "1" : "0") + " producer-registers=" +
                   std::to_string(options.producerWarp ? options.producerRegisters : 0) +
                   "},canonicalize,cse)"},
      {"llvm", "builtin.module(convert-scf-to-cf,convert-math-to-llvm,"
               "convert-arith-to-llvm,convert-index-to-llvm,"
               "convert-cf-to-llvm,convert-ub-to-llvm,convert-nvvm-to-llvm,"
               "reconcile-unrealized-casts)"},
  };
}

std::string tessera::nvidia::findPtxas() {
  if (const char *env = std::getenv("TESSERA_PTXAS"))
    return llvm::sys::fs::exists(env) ? env : "";
  if (auto found = llvm::sys::findProgramByName("ptxas"))
    return *found;
  if (llvm::sys::fs::exists("/usr/local/cuda/bin/ptxas"))
    return "/usr/local/cuda/bin/ptxas";
  return "";
}

std::string tessera::nvidia::findLibdevice() {
  if (const char *env = std::getenv("TESSERA_LIBDEVICE"))
    return env;
  std::vector<std::string> roots;
  for (const char *var : {"CUDA_HOME", "CUDA_PATH"})
    if (const char *env = std::getenv(var))
      roots.push_back(env);
  std::string ptxas = findPtxas();
  if (!ptxas.empty()) // <cuda>/bin/ptxas
    roots.push_back(llvm::sys::path::parent_path(llvm::sys::path::parent_path(ptxas)).str());
  roots.push_back("/usr/local/cuda");
  for (const std::string &root : roots) {
    llvm::SmallString<256> path(root);
    llvm::sys::path::append(path, "nvvm", "libdevice", "libdevice.10.bc");
    if (llvm::sys::fs::exists(path))
      return path.str().str();
  }
  return "";
}

namespace {

/// Runs ptxas on `ptx`; returns the cubin, or sets `error`.
std::string runPtxas(const std::string &ptxas, const std::string &ptx,
                     const std::string &arch, std::string &error) {
  llvm::SmallString<128> in, out, log;
  int fd;
  if (llvm::sys::fs::createTemporaryFile("tessera", "ptx", fd, in) ||
      llvm::sys::fs::createTemporaryFile("tessera", "cubin", out) ||
      llvm::sys::fs::createTemporaryFile("tessera", "log", log)) {
    error = "cannot create temporary files for ptxas";
    return "";
  }
  {
    llvm::raw_fd_ostream os(fd, /*shouldClose=*/true);
    os << ptx;
  }
  std::string archArg = "-arch=" + arch;
  llvm::StringRef args[] = {ptxas, archArg, "-o", out.str(), in.str()};
  std::optional<llvm::StringRef> redirects[] = {std::nullopt, log.str(),
                                                log.str()};
  std::string message;
  int rc = llvm::sys::ExecuteAndWait(ptxas, args, std::nullopt, redirects, 0, 0,
                                     &message);
  std::string cubin;
  if (rc == 0) {
    if (auto buffer = llvm::MemoryBuffer::getFile(out, /*IsText=*/false))
      cubin = (*buffer)->getBuffer().str();
  } else {
    auto text = llvm::MemoryBuffer::getFile(log);
    error = "ptxas failed (" + std::to_string(rc) + "): " +
            (text ? (*text)->getBuffer().str() : message);
  }
  llvm::sys::fs::remove(in);
  llvm::sys::fs::remove(out);
  llvm::sys::fs::remove(log);
  return cubin;
}

} // namespace

CompileResult tessera::nvidia::compile(const std::string &source,
                                       const std::string &bufferName,
                                       const Options &options, bool dumpStages) {
  CompileResult result;
  tessera::CompileSession session(source, bufferName, result.diagnostics);
  OwningOpRef<ModuleOp> module = session.parse();
  if (!module)
    return result;
  std::vector<Stage> all = stages(options);
  std::vector<Stage> front(all.begin(), all.begin() + 2), back(all.begin() + 2, all.end());
  if (failed(session.runStages(*module, front, "NVIDIA", dumpStages ? &result.dumps : nullptr)))
    return result;
  // Descriptor loads kept for TMA that the pipeliner did not make TMA
  // copies (a dot on mma.sync, a loop it could not pipeline) would be read
  // element by element: compile again with every descriptor lowered to
  // pointers, which the pipeliner copies with cp.async like any load.
  bool leftover = false;
  (*module)->walk([&](tessera::tile::DescriptorLoadOp) { leftover = true; });
  if (leftover) {
    Options pointers = options;
    pointers.tma = false;
    all = stages(pointers);
    front.assign(all.begin(), all.begin() + 2);
    module = session.parse();
    result.dumps.clear();
    if (!module ||
        failed(session.runStages(*module, front, "NVIDIA", dumpStages ? &result.dumps : nullptr)))
      return result;
  }
  if (failed(session.runStages(*module, back, "NVIDIA", dumpStages ? &result.dumps : nullptr)))
    return result;
  llvm::raw_ostream &diagOS = session.diag();
  if (auto shared = (*module)->getAttrOfType<IntegerAttr>("tilegpu.shared_bytes"))
    result.sharedBytes = shared.getInt();
  result.blockWarps = options.numWarps;
  if (auto warps = (*module)->getAttrOfType<IntegerAttr>("tilegpu.block_warps"))
    result.blockWarps = unsigned(warps.getInt());
  const std::string libdevice = options.libdevice.empty() ? findLibdevice() : options.libdevice;
  const char *libdeviceName = "CUDA's libdevice (nvvm/libdevice/libdevice.10.bc)";
  const char *libdeviceHint = "install the CUDA toolkit, or set TESSERA_LIBDEVICE to the file";
  if (failed(tessera::checkDeviceLibrary(*module, "__nv_", libdevice, libdeviceName,
                                         libdeviceHint)))
    return result;
  (*module)->walk([&](Operation *op) {
    if (auto maps = op->getAttrOfType<ArrayAttr>("tilegpu.tma_maps")) {
      for (Attribute map : maps)
        result.tmaMaps.push_back(cast<StringAttr>(map).str());
      op->removeAttr("tilegpu.tma_maps");
    }
  });

  static std::once_flag once;
  std::call_once(once, [] {
    LLVMInitializeNVPTXTargetInfo();
    LLVMInitializeNVPTXTarget();
    LLVMInitializeNVPTXTargetMC();
    LLVMInitializeNVPTXAsmPrinter();
  });
  llvm::LLVMContext llvmContext;
  std::unique_ptr<llvm::Module> llvmModule =
      translateModuleToLLVMIR(*module, llvmContext, "tessera_nvidia_kernel");
  if (!llvmModule) {
    diagOS << "error: translation to LLVM IR failed\n";
    return result;
  }
  llvm::Triple triple("nvptx64-nvidia-cuda");
  std::string error;
  const llvm::Target *target = llvm::TargetRegistry::lookupTarget(triple, error);
  if (!target) {
    diagOS << "error: no NVPTX target: " << error << "\n";
    return result;
  }
  // Multiplies and adds fuse into fma (as nvcc's default --fmad=true and
  // Triton's enable_fp_fusion): softmax's x * scale - max is one instruction.
  llvm::TargetOptions targetOptions;
  targetOptions.AllowFPOpFusion = llvm::FPOpFusion::Fast;
  std::unique_ptr<llvm::TargetMachine> machine(target->createTargetMachine(
      triple, options.arch, "+ptx84", targetOptions, std::nullopt,
      std::nullopt, llvm::CodeGenOptLevel::Aggressive));
  if (!machine) {
    diagOS << "error: NVPTX does not know " << options.arch << "\n";
    return result;
  }
  // libdevice's __nvvm_reflect("__CUDA_FTZ"): denormals kept (the
  // NVVMReflect pass of the NVPTX pipeline reads the flag).
  llvmModule->addModuleFlag(llvm::Module::Override, "nvvm-reflect-ftz", uint32_t(0));
  if (!tessera::linkDeviceLibrary(
          *llvmModule, *machine, "__nv_", libdevice, libdeviceName, diagOS) ||
      !tessera::optimizeForTarget(*llvmModule, *machine, diagOS,
                                  dumpStages ? &result.dumps : nullptr) ||
      !tessera::emitCode(*llvmModule, *machine, /*assembly=*/true, result.ptx,
                         diagOS))
    return result;

  if (dumpStages)
    result.dumps.emplace_back("ptx", result.ptx);
  if (options.cubin) {
    std::string ptxas = findPtxas();
    if (!ptxas.empty()) {
      result.cubin = runPtxas(ptxas, result.ptx, options.arch, error);
      if (result.cubin.empty()) {
        diagOS << "error: " << error << "\n";
        return result;
      }
    }
  }
  result.ok = true;
  return result;
}
