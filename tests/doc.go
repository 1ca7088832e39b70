// Package tests holds spanqa's cross-package regression tests: pipelines that run several
// stages together (convert, logits, windows -> model -> post-processing -> metrics). Unit and
// parity tests sit beside their packages.
package tests
