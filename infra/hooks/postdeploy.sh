#!/bin/sh
# azd postdeploy hook. Two things could not be done by the first provision and are done now, by provisioning again:
#  1. The Event Grid subscription to the blob trigger needs the host's blobs_extension key, which exists only once
#     the function code (with its Event Grid blob trigger) is deployed and running.
#  2. The trainer image azd just pushed (SERVICE_TRAINER_IMAGE_NAME) goes into the job and into the Function App's
#     launcher settings, so both name the same image.
# Provisioning is incremental and idempotent: later runs change nothing unless the image changed.
set -eu

if [ "${PIPELINE_SUBSCRIBE_BLOB_EVENTS:-false}" != "true" ]; then
  echo "Subscribing ${AZURE_FUNCTION_APP_NAME:-the Function App} to BlobCreated events under unlabeled/ ..."
  azd env set PIPELINE_SUBSCRIBE_BLOB_EVENTS true
fi
azd provision --no-prompt
