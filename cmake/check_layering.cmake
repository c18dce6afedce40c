# Refuses an #include that points the wrong way between the project's
# folders (each folder is a CMake target; dependencies point one way):
#
#   actors/logic  <  config  <  adapters  <  actors  <  runtime
#
# adapters/<name>/ may use the files at the top of adapters/ (the ports),
# never another adapter; actors see only those top-level adapters files.
#
# Usage: cmake -DROOT=<source dir> [-DSTAMP=<file>] -P check_layering.cmake

# Folders (longest prefix first) and the includes their files may make.
set(folders actors/logic config adapters/embedded adapters/redis
  adapters/webhook adapters/mongo adapters actors runtime)
set(allowed_includes
  "^actors/logic/"
  "^(actors/logic|config)/"
  "^(actors/logic/|config/|adapters/[^/]+$|adapters/embedded/)"
  "^(actors/logic/|config/|adapters/[^/]+$|adapters/redis/)"
  "^(actors/logic/|config/|adapters/[^/]+$|adapters/webhook/)"
  "^(actors/logic/|config/|adapters/[^/]+$|adapters/mongo/)"
  "^(actors/logic/|config/|adapters/[^/]+$)"
  "^(actors/|config/|adapters/[^/]+$)"
  "^(actors|config|adapters|runtime)/")

file(GLOB_RECURSE sources RELATIVE "${ROOT}"
  "${ROOT}/actors/*.hpp" "${ROOT}/actors/*.cpp"
  "${ROOT}/config/*.hpp" "${ROOT}/config/*.cpp"
  "${ROOT}/adapters/*.hpp" "${ROOT}/adapters/*.cpp"
  "${ROOT}/runtime/*.hpp" "${ROOT}/runtime/*.cpp")

set(problems "")
foreach(src IN LISTS sources)
  set(allowed "")
  set(i 0)
  foreach(folder IN LISTS folders)
    string(LENGTH "${folder}/" n)
    string(SUBSTRING "${src}" 0 ${n} head)
    if(head STREQUAL "${folder}/")
      list(GET allowed_includes ${i} allowed)
      break()
    endif()
    math(EXPR i "${i} + 1")
  endforeach()
  file(STRINGS "${ROOT}/${src}" lines REGEX "^[ \t]*#[ \t]*include[ \t]*\"")
  foreach(line IN LISTS lines)
    string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*\"([^\"]*)\".*" "\\1"
           target "${line}")
    # Only includes of the project's own folders are ruled.
    if(NOT target MATCHES "^(actors|config|adapters|runtime)/")
      continue()
    endif()
    if(NOT target MATCHES "${allowed}")
      string(APPEND problems "  ${src} includes ${target}\n")
    endif()
  endforeach()
endforeach()

if(problems)
  message(FATAL_ERROR "includes against the layering "
    "(actors/logic < config < adapters < actors < runtime; "
    "see cmake/check_layering.cmake):\n${problems}")
endif()
if(STAMP)
  file(TOUCH "${STAMP}")
endif()
