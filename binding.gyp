{
  # The native kernels. Each ISA-specific translation unit is its own static
  # library so that it alone is compiled with that ISA's flags; the addon picks
  # the kernel at run time from CPUID, so one build runs on any x86-64 CPU.
  "target_defaults": {
    "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-O2"],
    "cflags_cc": ["-std=c++17", "-O3", "-fPIC", "-fno-math-errno", "-fno-trapping-math", "-Wall", "-Wno-unused-function"],
    "cflags!": ["-O2"],
    "include_dirs": ["native"],
    "conditions": [["OS=='mac'", {"xcode_settings": {"OTHER_CPLUSPLUSFLAGS": ["-std=c++17", "-O3"]}}]]
  },
  "targets": [
    {
      "target_name": "kiln_avx512",
      "type": "static_library",
      "conditions": [["target_arch=='x64'", {
        "cflags_cc": ["-mavx512f", "-mavx512bw", "-mavx512dq", "-mavx512vl", "-mavx2", "-mfma", "-mf16c"],
        "sources": ["native/isa/gemm_avx512.cc", "native/isa/elementwise_avx512.cc"]
      }, {"sources": ["native/isa/none.cc"]}]]
    },
    {
      "target_name": "kiln_avx2",
      "type": "static_library",
      "conditions": [["target_arch=='x64'", {
        "cflags_cc": ["-mavx2", "-mfma", "-mf16c"],
        "sources": ["native/isa/gemm_avx2.cc", "native/isa/elementwise_avx2.cc"]
      }, {"sources": ["native/isa/none.cc"]}]]
    },
    {
      "target_name": "kiln",
      "dependencies": ["kiln_avx512", "kiln_avx2"],
      "sources": [
        "native/addon.cc",
        "native/cpu.cc",
        "native/threadpool.cc",
        "native/gemm.cc",
        "native/conv.cc",
        "native/norm.cc",
        "native/pool.cc",
        "native/elementwise.cc",
        "native/reduce.cc",
        "native/loss.cc",
        "native/layout.cc",
        "native/optim.cc",
        "native/random.cc"
      ]
    },
    {
      # Optional: MPI all-reduce for data-parallel training (ranks=N). Built only
      # where mpicc exists, so `npm install` works without MPI; kiln then says
      # how to install it when ranks > 1 is asked for.
      "target_name": "kiln_mpi",
      "variables": {"has_mpi": "<!(sh -c 'command -v mpicc >/dev/null 2>&1 && mpicc --showme:incdirs >/dev/null 2>&1 && echo 1 || echo 0')"},
      "conditions": [["has_mpi==1", {
        "sources": ["native/mpi/mpi_addon.cc"],
        "defines": ["OMPI_SKIP_MPICXX=1", "MPICH_SKIP_MPICXX=1"],
        "include_dirs": ["<!@(mpicc --showme:incdirs)"],
        "libraries": ["<!@(mpicc --showme:link)"]
      }, {"type": "none"}]]
    }
  ]
}
