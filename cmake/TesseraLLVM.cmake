#===- TesseraLLVM.cmake - MLIR/LLVM 22, linked statically --------------------===#
#
# Debian builds LLVM with LLVM_LINK_LLVM_DYLIB, so every imported MLIR target
# names the `LLVM` dylib, which needs ICU 72 and libz3 at run time. The GPU
# machine and users' machines lack those, so we replace `LLVM` in each imported
# target's link interface by the static component libraries, and drop libz3
# (only LLVM's SMT solver glue uses it; nothing we link reaches it).
#
#===-------------------------------------------------------------------------===#
if(NOT MLIR_DIR AND EXISTS /usr/lib/llvm-22/lib/cmake/mlir)
  set(MLIR_DIR /usr/lib/llvm-22/lib/cmake/mlir)
endif()
find_package(MLIR REQUIRED CONFIG)
if(NOT LLVM_VERSION_MAJOR EQUAL 22)
  message(FATAL_ERROR "Tessera needs LLVM/MLIR 22, found ${LLVM_PACKAGE_VERSION}")
endif()
message(STATUS "Using MLIR ${MLIR_DIR} (LLVM ${LLVM_PACKAGE_VERSION})")

list(APPEND CMAKE_MODULE_PATH "${MLIR_CMAKE_DIR}" "${LLVM_CMAKE_DIR}")
set(LLVM_RUNTIME_OUTPUT_INTDIR ${CMAKE_BINARY_DIR}/bin)
set(LLVM_LIBRARY_OUTPUT_INTDIR ${CMAKE_BINARY_DIR}/lib)
set(MLIR_BINARY_DIR ${CMAKE_BINARY_DIR})
include(TableGen)
include(AddLLVM)
include(AddMLIR)
include(HandleLLVMOptions)
separate_arguments(TESSERA_LLVM_DEFINITIONS NATIVE_COMMAND ${LLVM_DEFINITIONS})
add_definitions(${TESSERA_LLVM_DEFINITIONS})

# The LLVM components the compiler reaches: IR, passes, and the three code
# generators (NVPTX, AMDGPU, and the host for the CPU backend's JIT).
set(TESSERA_LLVM_COMPONENTS
  Core Support Demangle BinaryFormat TargetParser Remarks BitReader BitWriter
  IRReader IRPrinter AsmParser Passes Analysis TransformUtils ScalarOpts
  InstCombine ipo Vectorize Coroutines Target MC MCParser MCDisassembler Object
  CodeGen CodeGenTypes SelectionDAG AsmPrinter GlobalISel Linker
  FrontendOpenMP FrontendOffloading FrontendAtomic FrontendHLSL FrontendOpenACC
  FrontendDirective ObjectYAML ProfileData Option OrcJIT OrcShared
  OrcTargetProcess ExecutionEngine RuntimeDyld JITLink Symbolize DebugInfoDWARF
  DebugInfoPDB DebugInfoMSF
  NVPTX AMDGPU X86 native)
llvm_map_components_to_libnames(TESSERA_LLVM_STATIC_LIBS ${TESSERA_LLVM_COMPONENTS})

function(tessera_relink_static target)
  get_target_property(_libs ${target} INTERFACE_LINK_LIBRARIES)
  if(NOT _libs)
    return()
  endif()
  list(FIND _libs "LLVM" _idx)
  if(NOT _idx EQUAL -1)
    list(REMOVE_AT _libs ${_idx})
    list(INSERT _libs ${_idx} ${TESSERA_LLVM_STATIC_LIBS})
  endif()
  list(FILTER _libs EXCLUDE REGEX "libz3")
  set_target_properties(${target} PROPERTIES INTERFACE_LINK_LIBRARIES "${_libs}")
endfunction()

foreach(_t ${MLIR_EXPORTED_TARGETS} ${LLVM_AVAILABLE_LIBS})
  if(TARGET ${_t})
    get_target_property(_type ${_t} TYPE)
    if(_type STREQUAL "STATIC_LIBRARY" OR _type STREQUAL "INTERFACE_LIBRARY")
      tessera_relink_static(${_t})
    endif()
  endif()
endforeach()
