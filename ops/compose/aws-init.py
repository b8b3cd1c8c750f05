"""Creates what the compose cluster's nodes expect in moto (the AWS stand-in of
ops/compose.yaml): the attachments bucket, with CORS for the page's uploads, and the Cognito
user pool with the app client the page signs in with. Run once by the `aws-init` service
(moto's own image: Python with boto3); ops/compose-check.py runs it too, against a local
moto_server, to check the ids the nodes are configured with.

moto started with MOTO_COGNITO_IDP_USER_POOL_ID_STRATEGY=HASH and
MOTO_COGNITO_IDP_USER_POOL_CLIENT_ID_STRATEGY=HASH derives the pool's and the client's ids
from what they are created with, so they are the same on every laptop and can be written
into the nodes' configuration. Prints `pool_id client_id`.

    python3 aws-init.py http://moto:5000
"""

import sys

import boto3

REGION = "us-east-1"
BUCKET = "switchboard-media"
POOL = "switchboard"
CLIENT = "switchboard-web"


def main(endpoint):
    session = boto3.session.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name=REGION
    )
    s3 = session.client("s3", endpoint_url=endpoint)
    if BUCKET not in [b["Name"] for b in s3.list_buckets().get("Buckets", [])]:
        s3.create_bucket(Bucket=BUCKET)
    # The page uploads with PUT to a presigned URL and shows images with GET.
    s3.put_bucket_cors(
        Bucket=BUCKET,
        CORSConfiguration={
            "CORSRules": [
                {
                    "AllowedMethods": ["PUT", "GET"],
                    "AllowedOrigins": ["*"],
                    "AllowedHeaders": ["*"],
                    "MaxAgeSeconds": 3600,
                }
            ]
        },
    )
    cognito = session.client("cognito-idp", endpoint_url=endpoint)
    pools = cognito.list_user_pools(MaxResults=60)["UserPools"]
    pool = next((p["Id"] for p in pools if p["Name"] == POOL), None)
    if pool is None:
        pool = cognito.create_user_pool(PoolName=POOL)["UserPool"]["Id"]
    clients = cognito.list_user_pool_clients(UserPoolId=pool, MaxResults=60)
    client = next(
        (c["ClientId"] for c in clients["UserPoolClients"] if c["ClientName"] == CLIENT),
        None,
    )
    if client is None:
        client = cognito.create_user_pool_client(
            UserPoolId=pool,
            ClientName=CLIENT,
            ExplicitAuthFlows=["USER_PASSWORD_AUTH", "REFRESH_TOKEN_AUTH"],
        )["UserPoolClient"]["ClientId"]
    print(pool, client)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "http://moto:5000")
