// Package hub downloads model weights, tokenizer files and data sets from a
// Hugging Face compatible hub into the Hugging Face hub cache.
//
// The cache layout is exactly the one huggingface_hub writes, so a cache
// filled by spanqa is reused by Python tools and the other way round:
//
//	<cache>/models--org--name/
//	    blobs/<etag>                  file contents, named by the sha256 (LFS
//	                                  files) or git blob sha1 (other files)
//	    blobs/<etag>.incomplete       partial download, resumed with HTTP Range
//	    refs/<revision>               commit hash the branch or tag points to
//	    snapshots/<commit>/<file>     relative symlink to ../../blobs/<etag>
//	<cache>/.locks/models--org--name/<etag>.lock
//
// Data sets live in datasets--org--name with the same structure.
//
// The protocol follows huggingface_hub's file_download.py: a HEAD request on
// {endpoint}/{repo}/resolve/{revision}/{file} yields the commit (X-Repo-Commit),
// the etag (X-Linked-Etag or ETag) and the size (X-Linked-Size or
// Content-Length); relative redirects (renamed repositories) are followed,
// absolute ones (LFS files on a CDN) give the download location, which is
// fetched without the Authorization header when it is on another host.
// Every download is checked against the expected size and, when the etag is a
// content hash, against that hash while streaming; a file that fails the check
// never becomes a blob and never gets a snapshot link.
//
// The environment variables HF_ENDPOINT, HF_TOKEN (or the token file under
// HF_HOME), HF_HOME, HF_HUB_CACHE and HF_HUB_OFFLINE are honoured by
// NewClientFromEnv.
package hub
