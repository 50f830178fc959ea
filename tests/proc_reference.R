# The reference values of tests/test_metrics.py::test_*_pROC, from R's pROC 1.18.
# Run: Rscript tests/proc_reference.R   (Debian: apt-get install r-cran-proc)
suppressMessages(library(pROC))
stopifnot(packageVersion("pROC") >= "1.18")
show <- function(label, x) cat(label, format(x, digits = 17), "\n")
# Label 0 are the controls, label 1 the cases, and higher scores mean label 1, as in challenge.metrics.
r <- function(y, s) roc(y, s, levels = c(0, 1), direction = "<", quiet = TRUE)
delong <- function(y, a, b) roc.test(r(y, a), r(y, b), method = "delong", paired = TRUE)

y <- c(0, 1, 0, 1, 1, 0, 0, 1, 1, 0, 1, 0)
a <- c(0.1, 0.9, 0.35, 0.4, 0.8, 0.45, 0.2, 0.6, 0.3, 0.7, 0.65, 0.5)
b <- c(0.2, 0.5, 0.6, 0.3, 0.9, 0.1, 0.4, 0.35, 0.2, 0.6, 0.4, 0.3)
show("auc(a)", auc(r(y, a)))
show("ci(a), clipped above", as.numeric(ci.auc(r(y, a), method = "delong")))
show("ci(a), 90%", as.numeric(ci.auc(r(y, a), conf.level = 0.9, method = "delong")))
show("ci(-a), clipped below", as.numeric(ci.auc(r(y, -a), method = "delong")))
t <- delong(y, a, b)
show("delong(a, b) z", t$statistic)
show("delong(a, b) p", t$p.value)

# A perfect classifier against a constant one: AUCs 1 and 0.5, zero variance of the difference.
y6 <- c(0, 0, 0, 1, 1, 1)
perfect <- c(0.1, 0.2, 0.3, 0.7, 0.8, 0.9)
t <- delong(y6, perfect, rep(0.5, 6))
show("perfect vs constant z", t$statistic)
show("perfect vs constant p", t$p.value)
t <- suppressWarnings(delong(y6, perfect, 3 * perfect + 1))
show("same ranking z", t$statistic)
show("same ranking p", t$p.value)

# A class of one event: the AUC is defined, its variance is not.
y4 <- c(0, 0, 0, 1)
s4 <- c(0.1, 0.4, 0.3, 0.35)
show("one case: auc", auc(r(y4, s4)))
show("one case: ci", as.numeric(ci.auc(r(y4, s4), method = "delong")))
t <- tryCatch(delong(y4, s4, c(0.2, 0.1, 0.5, 0.3)), error = function(e) conditionMessage(e))
cat("one case: roc.test:", t, "\n")
