# onceflow_embed_command(<var> SCRIPT <script> COMMENT <text> NAME <name>
#                        NAMESPACE <ns> FILES <file>...)
# runs <script> with `cmake -P` to generate <build>/generated/<name>.hpp and
# .cpp from FILES (again when one of them or the script changes) and sets
# <var> to both paths, to add to a target's sources; `#include "<name>.hpp"`
# with <build>/generated as an include directory. The script gets
# -DNAMESPACE= -DHEADER= -DSOURCE= -DINCLUDE= and -DFILES= (absolute paths
# joined by "|"). Shared by cmake/embed_lua.cmake and
# cmake/embed_files.cmake.
function(onceflow_embed_command var)
  cmake_parse_arguments(arg "" "SCRIPT;COMMENT;NAME;NAMESPACE" "FILES" ${ARGN})
  set(dir "${CMAKE_CURRENT_BINARY_DIR}/generated")
  set(hpp "${dir}/${arg_NAME}.hpp")
  set(cpp "${dir}/${arg_NAME}.cpp")
  set(files "")
  foreach(f IN LISTS arg_FILES)
    get_filename_component(f "${f}" ABSOLUTE)
    list(APPEND files "${f}")
  endforeach()
  string(REPLACE ";" "|" joined "${files}")
  add_custom_command(
    OUTPUT "${hpp}" "${cpp}"
    COMMAND ${CMAKE_COMMAND} "-DNAMESPACE=${arg_NAMESPACE}"
            "-DHEADER=${hpp}" "-DSOURCE=${cpp}" "-DINCLUDE=${arg_NAME}.hpp"
            "-DFILES=${joined}" -P "${arg_SCRIPT}"
    DEPENDS ${files} "${arg_SCRIPT}"
    COMMENT "${arg_COMMENT} ${arg_NAME}.cpp"
    VERBATIM)
  set(${var} "${hpp}" "${cpp}" PARENT_SCOPE)
endfunction()

# onceflow_raw_delimiter(<var> <text> <base>) sets <var> to a delimiter for
# a C++ raw string literal holding <text>: <base>, else <base>1, <base>2, ...
# the first whose `)<delimiter>"` does not occur in it. (Used by the
# scripts of cmake/embed_lua.cmake and cmake/embed_files.cmake.)
function(onceflow_raw_delimiter var text base)
  set(delim "${base}")
  set(n 0)
  string(FIND "${text}" ")${delim}\"" at)
  while(NOT at EQUAL -1)
    math(EXPR n "${n} + 1")
    set(delim "${base}${n}")
    string(FIND "${text}" ")${delim}\"" at)
  endwhile()
  set(${var} "${delim}" PARENT_SCOPE)
endfunction()
