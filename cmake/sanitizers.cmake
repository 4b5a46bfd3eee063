if(ONEMAP_SANITIZE)
  message(STATUS "onemap: sanitizers ${ONEMAP_SANITIZE}")
  add_compile_options(-fsanitize=${ONEMAP_SANITIZE} -fno-omit-frame-pointer)
  add_link_options(-fsanitize=${ONEMAP_SANITIZE})
  # Undefined behaviour ends the process like an ASan report does, so a test cannot pass
  # over it (UBSan only prints and carries on by default).
  if(ONEMAP_SANITIZE MATCHES "undefined")
    add_compile_options(-fno-sanitize-recover=undefined)
  endif()
endif()
