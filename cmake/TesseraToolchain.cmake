#===- TesseraToolchain.cmake - ccache and lld --------------------------------===#
#
# Two cores: cache every compile and link with lld. ccache is used when present;
# CCACHE_BASEDIR (set by scripts/) makes a fresh clone hit the cache.
#
#===-------------------------------------------------------------------------===#
find_program(TESSERA_CCACHE ccache)
if(TESSERA_CCACHE AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  set(CMAKE_C_COMPILER_LAUNCHER ${TESSERA_CCACHE})
  set(CMAKE_CXX_COMPILER_LAUNCHER ${TESSERA_CCACHE})
endif()

# Prefer LLVM 22's lld; gcc finds `ld.lld` through -B.
find_program(TESSERA_LLD ld.lld HINTS /usr/lib/llvm-22/bin NO_DEFAULT_PATH)
if(NOT TESSERA_LLD)
  find_program(TESSERA_LLD ld.lld)
endif()
if(TESSERA_LLD)
  get_filename_component(_lld_dir ${TESSERA_LLD} DIRECTORY)
  set(_lld_flags "-B${_lld_dir} -fuse-ld=lld -Wl,--gc-sections")
  string(APPEND CMAKE_EXE_LINKER_FLAGS " ${_lld_flags}")
  string(APPEND CMAKE_SHARED_LINKER_FLAGS " ${_lld_flags}")
  string(APPEND CMAKE_MODULE_LINKER_FLAGS " ${_lld_flags}")
  message(STATUS "Linking with ${TESSERA_LLD}")
endif()
