"""Kubernetes: the compose model as manifests (`convert --to kubernetes`) and manifests on our
engine (`kube play`)."""
