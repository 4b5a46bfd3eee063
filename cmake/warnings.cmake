# One INTERFACE target carries the warning flags; every onemap target links it PRIVATE.
add_library(onemap_warnings INTERFACE)
target_compile_options(onemap_warnings INTERFACE
  -Wall -Wextra -pedantic -Wshadow -Wnon-virtual-dtor -Wcast-align -Woverloaded-virtual
  -Wimplicit-fallthrough)
if(ONEMAP_WERROR)
  target_compile_options(onemap_warnings INTERFACE -Werror)
endif()
