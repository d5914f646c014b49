"""Puts records on a Kinesis stream of moto's server, for bins/mlx-ingest/tests/kinesis.rs.

    python kinesis.py ENDPOINT STREAM SHARDS < records.json

creates STREAM with SHARDS shards unless it exists, puts each record of the JSON list
read from stdin (`{"key": partition key, "data": the record's text}`) one by one, and
prints, as JSON, each record's shard and sequence number in order.
"""

import json
import sys

import boto3


def main(endpoint, stream, shards):
    kinesis = boto3.client(
        "kinesis",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    names = kinesis.list_streams()["StreamNames"]
    if stream not in names:
        kinesis.create_stream(StreamName=stream, ShardCount=int(shards))
        kinesis.get_waiter("stream_exists").wait(StreamName=stream)
    put = []
    for r in json.load(sys.stdin):
        answer = kinesis.put_record(
            StreamName=stream, Data=r["data"].encode(), PartitionKey=r["key"]
        )
        put.append({"shard": answer["ShardId"], "sequence": answer["SequenceNumber"]})
    print(json.dumps(put))


if __name__ == "__main__":
    main(*sys.argv[1:])
