#!/bin/sh
# redis-server and redis-cli in one sandbox, over loopback TCP.
dir=$1
redis-server --port 6391 --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" --logfile "$dir/redis.log" &
i=0
until redis-cli -p 6391 ping >/dev/null 2>&1; do
    i=$((i + 1)); [ $i -gt 1200 ] && { echo "no server"; exit 1; }
    sleep 0.05
done
redis-cli -p 6391 set greeting "hello from redis"
redis-cli -p 6391 get greeting
redis-cli -p 6391 incrby counter 41
redis-cli -p 6391 incr counter
redis-cli -p 6391 shutdown nosave >/dev/null 2>&1
wait
echo "server exited"
