/* The package's shared object: R's init hook hands over to the Rust library, which registers its
 * .Call routines (extendr_module! in rust/src/lib.rs). */
#include <R_ext/Rdynload.h>

void R_init_monitoring_extendr(DllInfo *dll);

void R_init_monitoring(DllInfo *dll) {
    R_init_monitoring_extendr(dll);
}
