// Goroutines, timers and a loopback TCP echo server with its client: the
// Go runtime's netpoller (epoll), its timers and its threads.
package main

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"
)

func main() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				line, _ := bufio.NewReader(c).ReadString('\n')
				c.Write([]byte(strings.ToUpper(line)))
			}(c)
		}
	}()
	var wg sync.WaitGroup
	replies := make([]string, 8)
	for i := range replies {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			time.Sleep(time.Duration(i) * time.Millisecond)
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				panic(err)
			}
			defer c.Close()
			fmt.Fprintf(c, "client %d\n", i)
			replies[i], _ = bufio.NewReader(c).ReadString('\n')
		}(i)
	}
	wg.Wait()
	for _, r := range replies {
		fmt.Print(r)
	}
	t := time.NewTimer(20 * time.Millisecond)
	tick := time.NewTicker(5 * time.Millisecond)
	n := 0
	for {
		select {
		case <-tick.C:
			n++
		case <-t.C:
			fmt.Println("timer fired; ticks seen:", n >= 2)
			ln.Close()
			return
		}
	}
}
