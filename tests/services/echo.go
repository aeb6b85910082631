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
	// A ticker and a timer, each waited for until it fires: how many ticks
	// come before the timer depends on how busy the machine is, so the
	// output says only that both fired, in order (three ticks of 5 ms take
	// at least 10 ms from the start, the timer then waits the rest of its
	// 20 ms, or none if they are past).
	start := time.Now()
	t := time.NewTimer(20 * time.Millisecond)
	tick := time.NewTicker(5 * time.Millisecond)
	for n := 0; n < 3; n++ {
		<-tick.C
	}
	tick.Stop()
	<-t.C
	fmt.Println("3 ticks, then the timer; at least 20 ms:", time.Since(start) >= 20*time.Millisecond)
	ln.Close()
}
