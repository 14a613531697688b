//===- AMDBackend.cpp - tile IR to AMDGCN and HSACO -----------------------===//

#include "tessera/AMDBackend.h"

#include "CompileSession.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Target/LLVMIR/Export.h"

#include "llvm/ADT/StringSwitch.h"
#include "llvm/IR/Constants.h"
#include "llvm/IR/GlobalVariable.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/Transforms/Utils/Cloning.h"

#include <cstdlib>
#include <mutex>

extern "C" void LLVMInitializeAMDGPUTarget();
extern "C" void LLVMInitializeAMDGPUTargetInfo();
extern "C" void LLVMInitializeAMDGPUTargetMC();
extern "C" void LLVMInitializeAMDGPUAsmPrinter();

using namespace mlir;

bool tessera::amd::supportedArch(const std::string &arch) {
  return arch == "gfx90a" || arch == "gfx942";
}

std::vector<tessera::Stage> tessera::amd::stages(const Options &options) {
  return {
      {"tile", "builtin.module(inline,symbol-dce,canonicalize,cse,"
               "tile-lower-descriptors{keep-tma=0},tile-widen-offsets,tile-combine,"
               "canonicalize,loop-invariant-code-motion,cse)"},
      {"tilegpu", "builtin.module(convert-tile-to-tilegpu{num-warps=" +
                      std::to_string(options.numWarps) +
                      " threads-per-warp=64 mfma=1},canonicalize,cse)"},
      {"rocdl", "builtin.module(convert-tilegpu-to-rocdl,canonicalize,cse)"},
      {"llvm", "builtin.module(convert-scf-to-cf,convert-math-to-llvm,"
               "convert-arith-to-llvm,convert-index-to-llvm,"
               "convert-cf-to-llvm,convert-ub-to-llvm,reconcile-unrealized-casts)"},
  };
}

std::string tessera::amd::findLld() {
  if (const char *env = std::getenv("TESSERA_LLD"))
    return llvm::sys::fs::exists(env) ? env : "";
  for (const char *name : {"ld.lld-22", "ld.lld"})
    if (auto found = llvm::sys::findProgramByName(name))
      return *found;
  if (llvm::sys::fs::exists("/usr/lib/llvm-22/bin/ld.lld"))
    return "/usr/lib/llvm-22/bin/ld.lld";
  return "";
}

std::string tessera::amd::findOcml() {
  if (const char *env = std::getenv("TESSERA_OCML"))
    return env;
  std::vector<std::string> dirs;
  if (const char *env = std::getenv("ROCM_PATH"))
    dirs.push_back(std::string(env) + "/amdgcn/bitcode");
  dirs.push_back("/opt/rocm/amdgcn/bitcode");
  dirs.push_back("/usr/lib/x86_64-linux-gnu/amdgcn/bitcode");
  for (const std::string &dir : dirs)
    if (llvm::sys::fs::exists(dir + "/ocml.bc"))
      return dir + "/ocml.bc";
  return "";
}

namespace {

/// ocml reads its build options from constants that the oclc_*.bc control
/// libraries define; they are defined here, for `arch`: IEEE denormals and
/// infinities, correctly rounded f32 sqrt, wave64, the ISA version
/// (gfx90a: 9010, gfx942: 9402) and code object version 5.
bool defineOclcControls(llvm::Module &module, const std::string &arch,
                        llvm::raw_ostream &diag) {
  unsigned isa = arch == "gfx90a" ? 9010 : 9402;
  for (llvm::GlobalVariable &g : module.globals()) {
    if (!g.isDeclaration() || !g.getName().starts_with("__oclc_"))
      continue;
    llvm::StringRef name = g.getName().drop_front(7);
    std::optional<uint64_t> value =
        llvm::StringSwitch<std::optional<uint64_t>>(name)
            .Case("finite_only_opt", 0)
            .Case("unsafe_math_opt", 0)
            .Case("daz_opt", 0)
            .Case("correctly_rounded_sqrt32", 1)
            .Case("wavefrontsize64", 1)
            .Case("ISA_version", isa)
            .Case("ABI_version", 500)
            .Default(std::nullopt);
    auto *type = llvm::dyn_cast<llvm::IntegerType>(g.getValueType());
    if (!value || !type) {
      diag << "error: ocml reads " << g.getName() << ", a control Tessera does not define\n";
      return false;
    }
    g.setInitializer(llvm::ConstantInt::get(type, *value));
    g.setConstant(true);
    g.setLinkage(llvm::GlobalValue::InternalLinkage);
  }
  return true;
}

/// Links the relocatable `object` into a shared HSA code object.
std::string link(const std::string &lld, const std::string &object, std::string &error) {
  llvm::SmallString<128> in, out, log;
  int fd;
  if (llvm::sys::fs::createTemporaryFile("tessera", "o", fd, in) ||
      llvm::sys::fs::createTemporaryFile("tessera", "hsaco", out) ||
      llvm::sys::fs::createTemporaryFile("tessera", "log", log)) {
    error = "cannot create temporary files for ld.lld";
    return "";
  }
  {
    llvm::raw_fd_ostream os(fd, /*shouldClose=*/true);
    os << object;
  }
  llvm::StringRef args[] = {lld, "-flavor", "gnu", "-shared", "--no-undefined",
                            "-o", out.str(), in.str()};
  std::optional<llvm::StringRef> redirects[] = {std::nullopt, log.str(), log.str()};
  int rc = llvm::sys::ExecuteAndWait(lld, args, std::nullopt, redirects);
  std::string result;
  if (rc == 0) {
    if (auto buffer = llvm::MemoryBuffer::getFile(out, /*IsText=*/false))
      result = (*buffer)->getBuffer().str();
  } else {
    auto text = llvm::MemoryBuffer::getFile(log);
    error = "ld.lld failed (" + std::to_string(rc) + "): " +
            (text ? (*text)->getBuffer().str() : std::string("no log"));
  }
  llvm::sys::fs::remove(in);
  llvm::sys::fs::remove(out);
  llvm::sys::fs::remove(log);
  return result;
}

} // namespace

tessera::amd::CompileResult tessera::amd::compile(const std::string &source,
                                                  const std::string &bufferName,
                                                  const Options &options, bool dumpStages) {
  CompileResult result;
  tessera::CompileSession session(source, bufferName, result.diagnostics);
  llvm::raw_ostream &diagOS = session.diag();
  if (!supportedArch(options.arch)) {
    diagOS << "error: the AMD backend compiles for gfx90a (MI200) and gfx942 (MI300), not '"
           << options.arch << "'\n";
    return result;
  }
  OwningOpRef<ModuleOp> module = session.parse();
  if (!module)
    return result;
  if (failed(session.runStages(*module, stages(options), "AMD",
                               dumpStages ? &result.dumps : nullptr)))
    return result;
  if (auto shared = (*module)->getAttrOfType<IntegerAttr>("tilegpu.shared_bytes"))
    result.sharedBytes = shared.getInt();
  const std::string ocml = options.ocml.empty() ? findOcml() : options.ocml;
  const char *ocmlName = "ROCm's ocml (amdgcn/bitcode/ocml.bc)";
  const char *ocmlHint =
      "install ROCm or Debian's rocm-device-libs, or set TESSERA_OCML to the file";
  if (failed(tessera::checkDeviceLibrary(*module, "__ocml_", ocml, ocmlName, ocmlHint)))
    return result;
  if (result.sharedBytes > 65536) {
    diagOS << "error: the kernel needs " << result.sharedBytes
           << " bytes of LDS; " << options.arch << " has 65536 a workgroup\n";
    return result;
  }

  static std::once_flag once;
  std::call_once(once, [] {
    LLVMInitializeAMDGPUTargetInfo();
    LLVMInitializeAMDGPUTarget();
    LLVMInitializeAMDGPUTargetMC();
    LLVMInitializeAMDGPUAsmPrinter();
  });
  llvm::LLVMContext llvmContext;
  std::unique_ptr<llvm::Module> llvmModule =
      translateModuleToLLVMIR(*module, llvmContext, "tessera_amd_kernel");
  if (!llvmModule) {
    diagOS << "error: translation to LLVM IR failed\n";
    return result;
  }
  // Code object version 5 (ROCm 5.x and 6.x runtimes load it).
  llvmModule->addModuleFlag(llvm::Module::Error, "amdhsa_code_object_version", 500);
  llvm::Triple triple("amdgcn-amd-amdhsa");
  std::string error;
  const llvm::Target *target = llvm::TargetRegistry::lookupTarget(triple, error);
  if (!target) {
    diagOS << "error: no AMDGPU target: " << error << "\n";
    return result;
  }
  llvm::TargetOptions targetOptions;
  targetOptions.AllowFPOpFusion = llvm::FPOpFusion::Fast;
  std::unique_ptr<llvm::TargetMachine> machine(target->createTargetMachine(
      triple, options.arch, "", targetOptions, llvm::Reloc::PIC_, std::nullopt,
      llvm::CodeGenOptLevel::Aggressive));
  if (!machine) {
    diagOS << "error: AMDGPU does not know " << options.arch << "\n";
    return result;
  }
  if (!tessera::linkDeviceLibrary(
          *llvmModule, *machine, "__ocml_", ocml, ocmlName, diagOS) ||
      !defineOclcControls(*llvmModule, options.arch, diagOS) ||
      !tessera::optimizeForTarget(*llvmModule, *machine, diagOS,
                                  dumpStages ? &result.dumps : nullptr))
    return result;
  // Code generation changes the module: the object comes from a copy.
  std::unique_ptr<llvm::Module> forObject = llvm::CloneModule(*llvmModule);
  std::string object;
  if (!tessera::emitCode(*llvmModule, *machine, /*assembly=*/true, result.assembly, diagOS) ||
      !tessera::emitCode(*forObject, *machine, /*assembly=*/false, object, diagOS))
    return result;
  if (dumpStages)
    result.dumps.emplace_back("amdgcn", result.assembly);
  if (options.link) {
    std::string lld = findLld();
    if (!lld.empty()) {
      result.hsaco = link(lld, object, error);
      if (result.hsaco.empty()) {
        diagOS << "error: " << error << "\n";
        return result;
      }
    }
  }
  result.ok = true;
  return result;
}
